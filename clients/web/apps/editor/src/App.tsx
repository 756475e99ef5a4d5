import { type LecternClient, LecternProvider, RealtimeClient, useRealtimeStatus } from "@lectern/client";
import { useQueryClient } from "@tanstack/react-query";
import { useMemo, useSyncExternalStore } from "react";

import { AnalyticsPage } from "./pages/AnalyticsPage.tsx";
import { CourseEditorPage } from "./pages/CourseEditorPage.tsx";
import { CoursesPage } from "./pages/CoursesPage.tsx";
import { LoginPage } from "./pages/LoginPage.tsx";
import { MediaLibraryPage } from "./pages/MediaLibraryPage.tsx";
import { Toasts } from "./components/Toasts.tsx";
import { session, useSession } from "./session.ts";

function subscribeHash(listener: () => void) {
  window.addEventListener("hashchange", listener);
  return () => window.removeEventListener("hashchange", listener);
}

function useRoute(): string[] {
  const hash = useSyncExternalStore(subscribeHash, () => window.location.hash);
  return hash.replace(/^#\/?/, "").split("/").filter(Boolean);
}

export function App({ client }: { client: LecternClient }) {
  const current = useSession();
  const queryClient = useQueryClient();
  // One realtime client per signed-in user of this tab; the tabs elect who holds the socket.
  const realtime = useMemo(
    () => (current ? new RealtimeClient({ client, name: `lectern-realtime:${current.userId}` }) : null),
    [client, current?.userId],
  );
  if (!current) return <LoginPage client={client} />;
  return (
    <LecternProvider client={client} realtime={realtime}>
      <Shell
        userId={current.userId}
        onSignOut={() => {
          session.signOut();
          queryClient.clear();
        }}
      />
    </LecternProvider>
  );
}

function RealtimeBadge() {
  const status = useRealtimeStatus();
  return (
    <span className={`badge realtime-${status}`} data-testid="realtime-status" data-status={status}>
      live: {status}
    </span>
  );
}

function Shell({ userId, onSignOut }: { userId: string; onSignOut: () => void }) {
  const route = useRoute();
  const [section, id] = route;
  let page;
  if (section === "courses" && id) page = <CourseEditorPage key={id} courseId={id} />;
  else if (section === "media") page = <MediaLibraryPage />;
  else if (section === "analytics") page = <AnalyticsPage />;
  else page = <CoursesPage />;
  return (
    <div className="shell">
      <header>
        <strong>Lectern</strong>
        <nav>
          <a href="#/courses" className={!section || section === "courses" ? "active" : ""}>
            My courses
          </a>
          <a href="#/media" className={section === "media" ? "active" : ""}>
            Media library
          </a>
          <a href="#/analytics" className={section === "analytics" ? "active" : ""}>
            Analytics
          </a>
        </nav>
        <span className="spacer" />
        <RealtimeBadge />
        <span data-testid="current-user">{userId}</span>
        <button type="button" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <main>{page}</main>
      <Toasts />
    </div>
  );
}
