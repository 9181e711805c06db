"""Recruitment platforms: the participant id in the link's path, platform ids kept, and the redirect
back to the platform carrying the right values, recorded before the browser leaves.

The platform's completion page is never contacted: the test answers the browser's request for it
itself (Playwright's routing), and checks the URL the browser asked for.
"""

from __future__ import annotations

from helpers import wait_for

from mug import CompletionCodeScene, Experiment, StartScene

PROLIFIC_PID = "5f1a2b3c4d5e6f7a8b9c0d1e"


def test_a_prolific_link_with_the_id_in_the_path_records_the_ids_and_the_redirect_carries_the_code(
    serve, participant
) -> None:
    done = CompletionCodeScene().scene("done").redirect(
        "https://app.prolific.com/submissions/complete?cc=C0MPL3TE&pid={participant_id}&session={query.SESSION_ID}"
    )
    exp = Experiment("prolific", [StartScene().scene("hello"), done])
    server = serve(exp)
    page = participant(f"{server.url}{PROLIFIC_PID}?STUDY_ID=st123&SESSION_ID=se456")
    landed: list[str] = []

    def platform(route) -> None:
        landed.append(route.request.url)
        route.fulfill(status=200, content_type="text/plain", body="submission complete")

    page.route("https://app.prolific.com/**", platform)
    wait_for(page, "m.sceneId === 'hello' && m.status === 'ready'")
    assert page.evaluate("window.mug.participantId") == PROLIFIC_PID
    page.reload()  # the path-form link resumes the same participant, and stays as it was
    wait_for(page, "m.sceneId === 'hello' && m.status === 'ready'")
    assert page.evaluate("window.mug.participantId") == PROLIFIC_PID
    assert page.evaluate("window.location.pathname + window.location.search").endswith(
        f"/{PROLIFIC_PID}?STUDY_ID=st123&SESSION_ID=se456"
    )
    page.get_by_test_id("continue").click()
    wait_for(page, "m.sceneId === 'done' && m.status === 'ended'")
    code = page.get_by_test_id("completion-code").inner_text()
    page.get_by_test_id("finish").click()
    page.wait_for_url("https://app.prolific.com/**", timeout=20_000)  # (Playwright runs the route meanwhile)
    assert landed == [
        f"https://app.prolific.com/submissions/complete?cc=C0MPL3TE&pid={PROLIFIC_PID}&session=se456"
    ]
    results = exp.results()
    [person] = [p for _, p in results.participants.iterrows()]
    assert person["participant_id"] == PROLIFIC_PID and person["completion_code"] == code
    assert person["query.STUDY_ID"] == "st123" and person["query.SESSION_ID"] == "se456"
    ev = results.events
    [left] = [r for _, r in ev[ev["kind"] == "redirected"].iterrows()]
    assert left["participant_id"] == PROLIFIC_PID and left["data.url"] == landed[0]


def test_fixed_routes_are_not_taken_for_ids_and_a_path_id_cannot_reach_files(serve, participant) -> None:
    import urllib.error
    import urllib.request

    server = serve(Experiment("paths", [StartScene().scene("hello"), CompletionCodeScene().scene("done")]))
    assert urllib.request.urlopen(f"{server.url}health", timeout=10).status == 200
    for path in ("a/b", "..%2Fmug.sqlite3", "%2e%2e/etc/passwd", "x" * 129):
        try:
            status = urllib.request.urlopen(f"{server.url}{path}", timeout=10).status
        except urllib.error.HTTPError as e:
            status = e.code
        assert status == 404, path
