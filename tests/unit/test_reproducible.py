"""verify-reproducible's comparison: every compared result must repeat, and a difference is reported, not hidden."""

from __future__ import annotations

from acnbuild.reproducible import compare


def outcome(action: str, kind: str, **result: str) -> dict:
    return {"id": action, "kind": kind, "result": result}


FIRST = [
    outcome("go:a:linux/amd64", "go-binary", sha256="1" * 64),
    outcome("dropgz:c:linux/amd64", "installer", sha256="2" * 64),
    outcome("image:c:linux/amd64:buildah", "image", image_id="sha256:" + "3" * 64, sbom_sha256="4" * 64),
    outcome("smoke:c:linux/amd64:buildah", "smoke", image_id="sha256:" + "3" * 64),
]


def test_identical_runs_compare_every_binary_installer_sbom_and_image() -> None:
    rows = compare(FIRST, FIRST, image_ids=True)
    assert [(r.action, r.what) for r in rows] == [
        ("go:a:linux/amd64", "sha256"),
        ("dropgz:c:linux/amd64", "sha256"),
        ("image:c:linux/amd64:buildah", "sbom_sha256"),
        ("image:c:linux/amd64:buildah", "image_id"),
    ]
    assert all(r.same for r in rows)


def test_a_different_byte_is_a_difference() -> None:
    second = [dict(o) for o in FIRST]
    second[0] = outcome("go:a:linux/amd64", "go-binary", sha256="f" * 64)
    rows = compare(FIRST, second, image_ids=True)
    assert [(r.action, r.same) for r in rows if not r.same] == [("go:a:linux/amd64", False)]


def test_image_ids_of_time_stamping_builders_are_left_out_and_missing_actions_show() -> None:
    rows = compare(FIRST[:2], FIRST, image_ids=False)
    assert ("image:c:linux/amd64:buildah", "image_id") not in [(r.action, r.what) for r in rows]
    assert next(r for r in rows if not r.same).first == "not built"
