/**
 * The media library: every file with its usage count; "Where used" lists its links; "Delete…"
 * opens the delete-protection dialog, which shows the links and what a delete would remove (the
 * server's dry run) before anything is deleted. Soft-deleted files can be restored, with or without
 * their links.
 */
import {
  type Schemas,
  useDeleteMedia,
  useDeleteMediaPreview,
  useMediaList,
  useMediaUsage,
  useMyCourses,
  useRestoreMedia,
} from "@lectern/client";
import { useForm } from "react-hook-form";

import { useUi, useUiActions } from "../ui.ts";

type Media = Schemas["Media"];
type Link = Schemas["Link"];

function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024 * 1024) return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}

/** Course titles by id, for naming where a file is used (combined only for display). */
function useCourseTitles(): (courseId: string) => string {
  const courses = useMyCourses({ includeDeleted: true });
  return (courseId) => courses.data?.items.find((c) => c.id === courseId)?.title ?? courseId;
}

function LinkList({ links, testId }: { links: Link[]; testId: string }) {
  const titleOf = useCourseTitles();
  return (
    <ul className="links" data-testid={testId}>
      {links.map((link) => (
        <li key={`${link.resourceType}:${link.resourceId}`} data-testid="usage-link" data-course-id={link.courseId}>
          {link.resourceType} <code>{link.resourceId.slice(0, 8)}</code> in <a href={`#/courses/${link.courseId}`}>{titleOf(link.courseId)}</a>
        </li>
      ))}
    </ul>
  );
}

function Usage({ mediaId }: { mediaId: string }) {
  const usage = useMediaUsage(mediaId);
  if (usage.isPending) return <p className="muted">Loading usage…</p>;
  if (usage.error) return <p className="error">{usage.error.message}</p>;
  return (
    <div data-testid="media-usage" data-count={usage.data.count}>
      <strong>
        Used in {usage.data.count} place{usage.data.count === 1 ? "" : "s"}
      </strong>
      <LinkList links={usage.data.links} testId="media-usage-links" />
    </div>
  );
}

function MediaRow({ media }: { media: Media }) {
  const ui = useUiActions();
  const usageOpen = useUi((s) => s.expandedUsage === media.id);
  const restore = useRestoreMedia();
  const form = useForm<{ restoreLinks: boolean }>({ defaultValues: { restoreLinks: true } });
  const deleted = media.deletedAt !== null;
  return (
    <li data-testid="media-item" data-media-id={media.id} data-file-name={media.fileName} className={deleted ? "deleted" : ""}>
      <div className="row">
        <strong>{media.title || media.fileName}</strong>
        <span className="muted">
          {media.fileName} · {formatBytes(media.sizeBytes)} · {media.status}
        </span>
        <span className="badge" data-testid="media-usage-count">
          {media.usageCount} use{media.usageCount === 1 ? "" : "s"}
        </span>
        {deleted && <span className="badge badge-warn">deleted</span>}
        <span className="spacer" />
        <button type="button" data-testid="media-where-used" onClick={() => ui.toggleUsage(media.id)}>
          Where used
        </button>
        {deleted ? (
          <form
            className="row"
            onSubmit={form.handleSubmit(({ restoreLinks }) =>
              restore.mutate(
                { mediaId: media.id, restoreLinks },
                {
                  onSuccess: (data) =>
                    ui.toast(
                      "success",
                      `Restored ${media.fileName}: ${data.restoredLinks.length} links back, ${data.skippedLinks.length} skipped`,
                    ),
                  onError: (error) => ui.toast("error", `Restore failed: ${error.message}`),
                },
              ),
            )}
          >
            <label>
              <input type="checkbox" {...form.register("restoreLinks")} /> with its links
            </label>
            <button type="submit" data-testid="media-restore" disabled={restore.isPending}>
              Restore
            </button>
          </form>
        ) : (
          <button type="button" data-testid="media-delete" onClick={() => ui.openModal({ kind: "delete-media", mediaId: media.id })}>
            Delete…
          </button>
        )}
      </div>
      {usageOpen && <Usage mediaId={media.id} />}
    </li>
  );
}

function DeleteMediaDialog({ mediaId }: { mediaId: string }) {
  const ui = useUiActions();
  const usage = useMediaUsage(mediaId);
  const preview = useDeleteMediaPreview(mediaId, "soft");
  const remove = useDeleteMedia();
  const titleOf = useCourseTitles();
  const linkCount = usage.data?.count ?? 0;
  return (
    <div className="modal-backdrop">
      <div className="modal" role="dialog" aria-modal="true" data-testid="delete-media-dialog">
        <h2>Delete this video?</h2>
        {(usage.isPending || preview.isPending) && <p>Checking where it is used…</p>}
        {usage.data && (
          <div data-testid="media-usage" data-count={usage.data.count}>
            <p>
              {linkCount === 0 ? "It is not used anywhere." : `It is used in ${linkCount} place${linkCount === 1 ? "" : "s"}:`}
            </p>
            <LinkList links={usage.data.links} testId="media-usage-links" />
          </div>
        )}
        {preview.data && (
          <div data-testid="delete-impact" data-removed-links={preview.data.removedLinks.length}>
            <p>
              A delete would remove <strong>{preview.data.removedLinks.length}</strong> link
              {preview.data.removedLinks.length === 1 ? "" : "s"} from{" "}
              <strong>{preview.data.affectedCourses.length}</strong> course{preview.data.affectedCourses.length === 1 ? "" : "s"}:
            </p>
            <ul>
              {preview.data.affectedCourses.map((c) => (
                <li key={c.courseId} data-testid="affected-course">
                  {c.title || titleOf(c.courseId)} ({c.linkCount} link{c.linkCount === 1 ? "" : "s"}
                  {c.published ? ", published" : ", draft"})
                </li>
              ))}
            </ul>
            <p className="muted">Soft delete: the file can be restored (with its links) until it is purged.</p>
          </div>
        )}
        {preview.error && <p className="error">{preview.error.message}</p>}
        <div className="row">
          <button type="button" onClick={() => ui.closeModal()}>
            Cancel
          </button>
          <button
            type="button"
            className="danger"
            data-testid="confirm-delete"
            disabled={remove.isPending || !preview.data}
            onClick={() =>
              remove.mutate(
                { mediaId, mode: "soft", force: linkCount > 0 },
                {
                  onSuccess: (data) => {
                    ui.closeModal();
                    ui.toast("success", `Deleted; ${data.removedLinks.length} links removed`);
                  },
                  onError: (error) =>
                    ui.toast("error", error.code === "HAS_DEPENDENCIES" ? "It is still in use" : error.message),
                },
              )
            }
          >
            {linkCount > 0 ? "Remove from courses and delete" : "Delete"}
          </button>
        </div>
      </div>
    </div>
  );
}

export function MediaLibraryPage() {
  const media = useMediaList({ includeDeleted: true });
  const modal = useUi((s) => s.modal);
  return (
    <section>
      <h1>Media library</h1>
      {media.isPending && <p>Loading…</p>}
      {media.error && <p className="error">{media.error.message}</p>}
      <ul className="media">
        {media.data?.items.map((m) => (
          <MediaRow key={m.id} media={m} />
        ))}
      </ul>
      {media.data && media.data.items.length === 0 && <p className="muted">No videos yet: upload one into a chapter.</p>}
      {modal?.kind === "delete-media" && <DeleteMediaDialog mediaId={modal.mediaId} />}
    </section>
  );
}
