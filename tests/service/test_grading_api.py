"""Grading over HTTP and the command line: tokens, roles, re-grade, manual grades, history."""

import psycopg
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.app import create_app
from service.auth import create_token
from service.cli import app as cli


@pytest.fixture
def graded(scratch_url, settings_for):
    """A client on a private seeded, graded database, with an admin and an analyst token."""
    with psycopg.connect(scratch_url) as conn:
        _, admin = create_token(conn, "admin", "管理员")
        _, analyst = create_token(conn, "analyst", "分析员")
    with TestClient(create_app(settings_for(scratch_url))) as client:
        yield client, {"Authorization": f"Bearer {admin}"}, {"Authorization": f"Bearer {analyst}"}, scratch_url


def test_regrade_needs_a_token(graded):
    client, *_ = graded
    response = client.post("/admin/grade")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "onemap token create" in response.json()["description"]
    bad = client.post("/admin/grade", headers={"Authorization": "Bearer om_nope"})
    assert bad.status_code == 401 and "unknown" in bad.json()["description"]


def test_regrade_needs_the_admin_role(graded):
    client, _, analyst, _ = graded
    response = client.post("/admin/grade", headers=analyst)
    assert response.status_code == 403
    assert "'analyst' may not" in response.json()["description"]


def test_admin_regrades_and_gets_the_distribution(graded):
    client, admin, _, url = graded
    response = client.post("/admin/grade", headers=admin)
    assert response.status_code == 200
    body = response.json()
    assert body["units"] == 3176 and body["points"] == 22067
    assert body["changed"] == 0  # the fixture's database was graded after seeding
    with psycopg.connect(url) as conn:
        want = dict(conn.execute("SELECT grade, count(*) FROM risk_units GROUP BY 1").fetchall())
        by_district = conn.execute("SELECT count(*) FROM risk_units WHERE district_code = '610113' "
                                   "AND grade = 'red'").fetchone()[0]
        who = conn.execute("SELECT requested_by FROM grading_runs ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert body["by_grade"] == want
    assert next(d for d in body["by_district"] if d["code"] == "610113")["red"] == by_district
    assert who == "api:管理员"


def test_override_then_revoke_over_http_with_history(graded):
    client, admin, _, url = graded
    with psycopg.connect(url) as conn:
        uid, code, before = conn.execute(
            "SELECT id, code, grade FROM risk_units WHERE grade = 'blue' ORDER BY id LIMIT 1").fetchone()
    response = client.post("/admin/overrides", headers=admin, json={
        "unit": code, "grade": "red", "reason": "现场检查发现严重腐蚀", "expires_at": "2099-01-01T00:00:00+08:00"})
    assert response.status_code == 201, response.text
    assert response.json()["previous"] == before and response.json()["set_by"] == "管理员"
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT grade, grade_source FROM risk_units WHERE id = %s", [uid]).fetchone() == ("red", "override")
    history = client.get(f"/grading/history/{code}").json()["history"]
    assert [(h["grade_from"], h["grade_to"], h["source"]) for h in history][-1] == ("blue", "red", "override")
    assert "人工调整为红（管理员" in history[-1]["why"]
    response = client.delete(f"/admin/overrides/{code}", headers=admin)
    assert response.status_code == 200 and response.json()["grade"] == "blue"
    again = client.delete(f"/admin/overrides/{code}", headers=admin)
    assert again.status_code == 400 and "no manual grade in force" in again.json()["description"]


@pytest.mark.parametrize("payload, message", [
    ({"unit": "RU-00001", "grade": "purple", "reason": "x"}, "grade 'purple'"),
    ({"unit": "RU-00001", "grade": "red", "reason": "  "}, "needs a reason"),
    ({"unit": "RU-00001", "grade": "red", "reason": "x", "expires_at": "2001-01-01T00:00:00Z"}, "in the past"),
    ({"unit": "RU-00001", "grade": "red", "reason": "x", "expires_at": "2099-01-01T00:00:00"}, "time zone"),
])
def test_bad_overrides_are_400_and_change_nothing(graded, payload, message):
    client, admin, _, url = graded
    response = client.post("/admin/overrides", headers=admin, json=payload)
    assert response.status_code == 400, response.text
    assert message in response.json()["description"]
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM grade_overrides").fetchone() == (0,)


def test_override_of_an_unknown_unit_is_404(graded):
    client, admin, _, _ = graded
    response = client.post("/admin/overrides", headers=admin, json={"unit": "RU-99999", "grade": "red", "reason": "x"})
    assert response.status_code == 404 and "RU-99999" in response.json()["description"]


def test_rules_are_published(graded):
    client, *_ = graded
    rules = client.get("/grading/rules").json()
    assert (rules["m_red"], rules["l_red"], rules["floor_major_hazard_source"]) == (20, 320, "orange")


# -- the command line --------------------------------------------------------------------
def test_cli_grade_prints_the_distribution_and_changes(scratch_url, monkeypatch):
    monkeypatch.setenv("ONEMAP_DATABASE_URL", scratch_url)
    with psycopg.connect(scratch_url) as conn:
        before = conn.execute("SELECT grade FROM risk_units WHERE code = 'RU-00002'").fetchone()[0]
        conn.execute("UPDATE risk_units SET likelihood = 5, severity = 5 WHERE code = 'RU-00002'")
        red = conn.execute("SELECT count(*) FROM risk_units WHERE grade = 'red'").fetchone()[0]
    assert before != "red"
    result = CliRunner().invoke(cli, ["grade"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # the table wraps at the terminal's width
    assert "graded 3,176 risk units and 22,067 monitoring points" in text
    assert "雁塔区 610113" in text
    assert f"by grade: 红 red {red + 1:,}," in text
    assert "1 grade changed since the last run" in text
    assert "RU-00002" in text and "→ 红 red 红: 可能性5 × 严重性5 = 25 ≥ 20" in text


def test_cli_override_history_revoke(scratch_url, monkeypatch):
    monkeypatch.setenv("ONEMAP_DATABASE_URL", scratch_url)
    runner = CliRunner()
    result = runner.invoke(cli, ["grade", "override", "RU-00010", "--grade", "red", "--reason", "test",
                                 "--by", "张三", "--days", "7"])
    assert result.exit_code == 0 and "set to" in result.output and "张三" in result.output
    result = runner.invoke(cli, ["grade", "history", "RU-00010"])
    assert result.exit_code == 0 and "override" in result.output
    result = runner.invoke(cli, ["grade", "revoke", "RU-00010", "--by", "李四"])
    assert result.exit_code == 0 and "revoked by 李四" in result.output
    result = runner.invoke(cli, ["grade", "override", "RU-00010", "--grade", "pink", "--reason", "x", "--by", "y"])
    assert result.exit_code == 2 and "pink" in result.output


def test_cli_token_create_prints_the_token_alone_on_the_last_line(scratch_url, monkeypatch):
    monkeypatch.setenv("ONEMAP_DATABASE_URL", scratch_url)
    result = CliRunner().invoke(cli, ["token", "create", "--role", "operator", "--name", "simulator"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("om_") and " " not in token
    with psycopg.connect(scratch_url) as conn:
        assert conn.execute("SELECT name, role FROM api_tokens").fetchall() == [("simulator", "operator")]
    bad = CliRunner().invoke(cli, ["token", "create", "--role", "king"])
    assert bad.exit_code == 2 and "unknown role" in bad.output


def test_the_service_grades_on_a_timer_so_an_override_expires_on_time(scratch_url, settings_for):
    import time

    from layers.grading import regrade
    from service.settings import GradingSettings

    with psycopg.connect(scratch_url) as conn:
        uid, grade = conn.execute("SELECT id, grade FROM risk_units WHERE grade = 'blue' LIMIT 1").fetchone()
        conn.execute("INSERT INTO grade_overrides (risk_unit_id, grade, reason, set_by, expires_at) "
                     "VALUES (%s, 'red', '临时管控', '张三', now() + interval '1.5 seconds')", [uid])
        conn.commit()
        regrade(conn, "test")
        assert conn.execute("SELECT grade FROM risk_units WHERE id = %s", [uid]).fetchone() == ("red",)
    settings = settings_for(scratch_url)
    settings.grading = GradingSettings(interval_seconds=0.5)
    with TestClient(create_app(settings)):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with psycopg.connect(scratch_url) as conn:
                now = conn.execute("SELECT grade FROM risk_units WHERE id = %s", [uid]).fetchone()[0]
            if now == grade:
                break
            time.sleep(0.25)
    assert now == "blue"
    with psycopg.connect(scratch_url) as conn:
        who = conn.execute("SELECT requested_by FROM grading_runs ORDER BY id DESC LIMIT 1").fetchone()
    assert who == ("service:timer",)
