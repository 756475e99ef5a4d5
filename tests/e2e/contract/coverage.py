"""Which end-to-end tests prove each public action and each WebSocket message type.

``test_contract_coverage.py`` fails when the gateway's ``/openapi.json`` names an action that has
no entry here, when an entry names a test that does not exist, or when an entry names an action
the gateway no longer has. Adding an action? Add its line, with the tests (happy path with the
shape of its ``data``, and each error code it documents) as ``<path under tests/e2e>::<test>``.
Tests anywhere under tests/e2e count (the faults suite too), as long as they run on the stack.
"""

from __future__ import annotations

COURSES = "contract/test_course_actions.py"
MEDIA = "contract/test_media_actions.py"
UPLOADS = "contract/test_upload_actions.py"
REALTIME_ANALYTICS = "contract/test_realtime_and_analytics_actions.py"
OWNERSHIP = "contract/test_ownership.py"
WEBSOCKET = "contract/test_websocket_messages.py"
RESUME = "test_resume_upload.py"
PUBLISH = "test_gateway_publish_state.py"
PUBLISH_PREVIEW = "test_gateway_publish_preview.py"
PROBING = "test_media_probing.py"


def _in(module: str, *tests: str) -> list[str]:
    return [f"{module}::{test}" for test in tests]


# Every action is also run by these, which read the action list from /openapi.json themselves:
# another user's real resources answer NOT_FOUND/FORBIDDEN (or, for listings, show nothing), and
# no token or a bad one answers UNAUTHENTICATED.
EVERY_ACTION = _in(
    OWNERSHIP,
    "test_another_users_resources_answer_not_found_or_forbidden_and_stay_unchanged",
    "test_listings_show_nothing_of_another_user",
    "test_every_action_without_a_valid_user_token_is_unauthenticated",
)

COVERED_ACTIONS: dict[str, list[str]] = {
    "createCourse": _in(
        COURSES,
        "test_create_course_answers_the_course",
        "test_create_course_refuses_a_blank_title_by_field",
        "test_an_oversized_body_is_payload_too_large",
        "test_a_body_that_is_not_json_is_a_validation_error",
        "test_a_burst_past_the_mutation_limit_is_rate_limited_with_retry_after",
        "test_every_action_answer_carries_server_timing",
    ),
    "listMyCourses": _in(
        COURSES,
        "test_list_my_courses_pages_and_hides_deleted_ones",
        "test_list_my_courses_refuses_a_limit_out_of_range",
    ),
    "getCourseEdit": _in(
        COURSES,
        "test_get_course_edit_answers_chapters_lessons_and_their_media",
        "test_get_course_edit_of_an_unknown_course_is_not_found",
        "test_get_course_edit_shows_a_deleted_course_only_when_asked",
    ),
    "updateCourse": _in(
        COURSES,
        "test_update_course_changes_the_patched_fields",
        "test_update_course_at_a_stale_version_is_a_conflict_with_the_current_version",
        "test_update_course_with_an_empty_patch_is_a_validation_error",
    ),
    "saveCourseChanges": _in(
        COURSES,
        "test_save_course_changes_applies_every_operation_and_maps_temp_ids",
        "test_save_course_changes_at_a_stale_version_answers_the_current_state",
        "test_save_course_changes_names_the_bad_operation_by_path_and_applies_nothing",
        "test_save_course_changes_naming_an_unknown_chapter_applies_nothing",
        "test_a_repeated_idempotency_key_answers_the_first_result_and_changes_nothing",
    ),
    "deleteCourse": _in(
        COURSES, "test_delete_and_restore_course", "test_delete_and_restore_of_an_unknown_course_are_not_found"
    ),
    "restoreCourse": _in(
        COURSES, "test_delete_and_restore_course", "test_delete_and_restore_of_an_unknown_course_are_not_found"
    ),
    "publishCourse": _in(
        PUBLISH,
        "test_publish_state_through_the_gateway",
        "test_publish_actions_refuse_bad_input_and_foreign_courses",
    ),
    "unpublishCourse": _in(
        PUBLISH,
        "test_publish_state_through_the_gateway",
        "test_publish_actions_refuse_bad_input_and_foreign_courses",
    ),
    "listMedia": _in(
        MEDIA, "test_list_media_filters_and_pages_the_callers_files", "test_list_media_refuses_an_unknown_status"
    ),
    "getMedia": _in(
        MEDIA,
        "test_get_media_answers_the_file_with_its_links",
        "test_get_media_of_an_unknown_file_is_not_found",
    ),
    "updateMedia": _in(MEDIA, "test_update_media_renames_at_the_read_version"),
    "getMediaUsage": _in(MEDIA, "test_link_media_to_a_course_a_chapter_and_a_lesson_counts_every_use"),
    "linkMedia": _in(
        MEDIA,
        "test_link_media_to_a_course_a_chapter_and_a_lesson_counts_every_use",
        "test_link_media_to_an_unknown_resource_is_not_found",
        "test_link_media_refuses_an_unknown_resource_type",
    ),
    "unlinkMedia": _in(MEDIA, "test_unlink_media_removes_one_link"),
    "deleteMedia": _in(
        MEDIA,
        "test_delete_media_is_protected_by_its_links",
        "test_soft_delete_with_force_snapshots_links_and_restore_brings_them_back",
        "test_hard_delete_without_links_reclaims_the_bytes",
    )
    + _in(PUBLISH_PREVIEW, "test_delete_preview_and_audit_say_the_course_is_published"),
    "restoreMedia": _in(
        MEDIA,
        "test_soft_delete_with_force_snapshots_links_and_restore_brings_them_back",
        "test_restore_media_skips_links_whose_target_is_gone",
        "test_restore_media_without_links_leaves_them_out",
        "test_hard_delete_without_links_reclaims_the_bytes",
    ),
    "getMediaAudit": _in(MEDIA, "test_get_media_audit_tells_each_change"),
    "startUpload": _in(
        UPLOADS,
        "test_start_upload_answers_a_tus_url_and_a_scoped_token",
        "test_start_upload_refuses_what_it_documents",
        "test_start_upload_past_the_concurrent_upload_limit_is_quota_exceeded",
        "test_tus_errors_answer_json_with_their_tus_status",
    ),
    "getUpload": _in(
        UPLOADS,
        "test_get_upload_follows_the_upload_to_completed",
        "test_get_upload_of_an_unknown_operation_is_not_found",
    ),
    "listUploads": _in(
        UPLOADS, "test_list_uploads_filters_by_course_and_status", "test_get_upload_follows_the_upload_to_completed"
    ),
    "cancelUpload": _in(
        UPLOADS,
        "test_cancel_upload_ends_it_on_the_tus_plane_too",
        "test_cancel_of_a_completed_upload_is_a_conflict",
    ),
    "resumeUpload": _in(
        RESUME,
        "test_an_upload_started_on_one_device_is_finished_from_another",
        "test_resume_upload_refuses_others_unknown_cancelled_and_anonymous",
    ),
    "getRealtimeToken": _in(
        REALTIME_ANALYTICS,
        "test_get_realtime_token_names_the_courses_it_may_watch",
        "test_get_realtime_token_for_an_unknown_course_is_refused",
    ),
    "getAnalyticsDashboard": _in(
        REALTIME_ANALYTICS,
        "test_every_dashboard_answers_its_domains",
        "test_get_analytics_dashboard_refuses_a_reversed_window_and_an_unknown_dashboard",
    ),
    "recordEngagement": _in(REALTIME_ANALYTICS, "test_record_engagement_keeps_valid_events_and_counts_the_rest"),
}

# API.md section 2 and docs/contract-additions.md "WebSocket": every server message type and close
# code. A new type or code needs a line here (and in WEBSOCKET_CONTRACT of the coverage test).
COVERED_MESSAGES: dict[str, list[str]] = {
    "subscribed": _in(
        WEBSOCKET,
        "test_subscribed_tells_the_channel_its_seq_and_recovered",
        "test_since_replays_what_the_history_holds",
    ),
    "upload-progress": _in(WEBSOCKET, "test_upload_progress_and_complete_reach_the_users_channel"),
    "upload-complete": _in(
        WEBSOCKET,
        "test_upload_progress_and_complete_reach_the_users_channel",
        "test_an_upload_into_a_chapter_completes_with_its_lesson_and_invalidates",
    ),
    "upload-failed": _in(WEBSOCKET, "test_a_cancelled_upload_is_told_as_upload_failed"),
    "media-ready": _in(PROBING, "test_probing_verdicts_reach_get_upload_get_media_and_the_course_channel"),
    "media-failed": _in(PROBING, "test_probing_verdicts_reach_get_upload_get_media_and_the_course_channel"),
    "invalidate": _in(
        WEBSOCKET,
        "test_a_course_edit_invalidates_its_chapters",
        "test_every_open_tab_gets_the_same_messages",
        "test_an_upload_into_a_chapter_completes_with_its_lesson_and_invalidates",
    ),
    "error": _in(WEBSOCKET, "test_unsubscribe_ping_and_errors_keep_the_socket_open")
    + _in(OWNERSHIP, "test_a_websocket_cannot_subscribe_to_another_users_course"),
    "unsubscribed": _in(WEBSOCKET, "test_unsubscribe_ping_and_errors_keep_the_socket_open"),
    "pong": _in(WEBSOCKET, "test_unsubscribe_ping_and_errors_keep_the_socket_open"),
    "close 4001": _in(
        WEBSOCKET,
        "test_a_bad_token_closes_the_socket_with_4001",
        "test_a_token_signed_by_the_stack_opens_a_socket",
        "test_an_open_socket_whose_token_expires_is_closed_with_4001",
    ),
}
