"""Signing a browser in where reads need a token (`ONEMAP_API_READ_TOKEN=true`).

`GET /login` is a form with one field; `POST /login` checks the token and keeps it in an
HttpOnly, same-site cookie that the map page's requests then carry (`service.read_access`);
`GET /logout` forgets it. A plain form, no script: it works under the page's CSP.
"""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from geodata.errors import UnauthorizedError
from service.auth import caller_of
from service.read_access import COOKIE

router = APIRouter(tags=["map"], include_in_schema=False)

COOKIE_DAYS = 7
_FORM = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>登录 Sign in · 城市安全风险一张图</title>
<style>
body {{ font: 15px/1.5 "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; background: #eef1f4;
       display: flex; align-items: center; justify-content: center; min-height: 100vh; margin: 0; }}
form {{ background: #fff; padding: 28px 32px; border-radius: 8px; width: 340px;
        box-shadow: 0 2px 12px rgba(0,0,0,.12); }}
h1 {{ font-size: 18px; margin: 0 0 4px; }} p {{ color: #555; margin: 0 0 16px; }}
input {{ width: 100%; box-sizing: border-box; padding: 8px; font: inherit; margin: 6px 0 14px; }}
button {{ padding: 8px 18px; font: inherit; background: #1f5fa8; color: #fff; border: 0;
          border-radius: 4px; cursor: pointer; }}
.error {{ color: #b3261e; }} .en {{ color: #777; font-size: 13px; }}
</style></head><body>
<form method="post" action="/login">
<h1>城市安全风险一张图 <span class="en">City-safety one map</span></h1>
<p>本服务需要令牌方可查看。<span class="en">This server needs a token to read.</span></p>
{message}
<label for="token">令牌 <span class="en">Token</span></label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">登录 <span>Sign in</span></button>
<p class="en">令牌由管理员以 <code>onemap token create --role analyst</code> 生成。
A token comes from <code>onemap token create</code>.</p>
</form></body></html>"""


def _page(message: str = "", status: int = 200) -> HTMLResponse:
    html = _FORM.format(message=f'<p class="error">{escape(message)}</p>' if message else "")
    return HTMLResponse(html, status_code=status, headers={
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                   "form-action 'self'; frame-ancestors 'self'",
        "Cache-Control": "no-store"})


@router.get("/login")
async def login_form() -> HTMLResponse:
    return _page()


@router.post("/login")
async def login(request: Request):
    fields = parse_qs((await request.body()).decode("utf-8", "replace"))
    token = (fields.get("token") or [""])[0].strip()
    if not token:
        return _page("请输入令牌。Enter a token.", 400)
    try:
        await caller_of(request.app.state.backend.pool, f"Bearer {token}")
    except UnauthorizedError:
        return _page("令牌无效、已撤销或已过期。The token is unknown, revoked or expired.", 401)
    answer = RedirectResponse("/", status_code=303)
    answer.set_cookie(COOKIE, token, max_age=COOKIE_DAYS * 86400, httponly=True,
                      samesite="strict", secure=request.url.scheme == "https")
    return answer


@router.get("/logout")
async def logout() -> RedirectResponse:
    answer = RedirectResponse("/login", status_code=303)
    answer.delete_cookie(COOKIE)
    return answer
