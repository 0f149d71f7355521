"""Every flow a person clicks through, in real Chromium: legacy allow and cancel,
a site token, module administration, the OAuth2 connection and its revocation,
and the sample app's "Sign in with col_auth" and "Sign out"."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from col_auth.demo import DEMO_USERS
from tests.e2e.conftest import login, screenshot

PASSWORDS = {u[0]: u[1] for u in DEMO_USERS}


def _start_legacy(page, stack, link_name: str, username: str) -> None:
    page.goto(stack.sample)
    page.get_by_role("link", name=link_name).click()
    expect(page).to_have_url(re.compile(r"/login"))
    login(page, stack.service, username, PASSWORDS[username])
    expect(page.get_by_role("button", name="Allow")).to_be_visible()


def test_member_allows_user_token_and_sample_app_calls_the_api(page, stack):
    _start_legacy(page, stack, "Connect with col_auth", "member")
    expect(page.locator(".app-name")).to_have_text("Sample Third-Party App")
    expect(page.get_by_role("link", name="View Privacy Policy")).to_be_visible()
    expect(page.get_by_text("act as you")).to_be_visible()
    screenshot(page, "legacy-consent")
    page.get_by_role("button", name="Allow").click()
    expect(page).to_have_url(re.compile(re.escape(stack.sample) + r"/col\?jwt="))
    me = page.locator("#legacy-me")
    expect(me).to_contain_text('"auth": "user_token"')
    expect(me).to_contain_text('"username": "member"')
    expect(page.locator("#legacy-packet")).to_contain_text('"desc": "Morgan Member"')
    screenshot(page, "sample-app-legacy")


def test_member_cancels_and_sample_app_shows_it(page, stack):
    _start_legacy(page, stack, "Connect with col_auth", "member")
    page.get_by_role("button", name="Cancel").click()
    expect(page).to_have_url(re.compile(r"/col\?cancel=1$"))
    expect(page.locator("#legacy-cancelled")).to_be_visible()
    expect(page.locator("#legacy-me")).to_have_count(0)


def test_site_admin_issues_site_token(page, stack):
    _start_legacy(page, stack, "Connect as site", "admin")
    expect(page.get_by_text("any user of Sample CU")).to_be_visible()
    expect(page.get_by_text("server-side code only")).to_be_visible()
    screenshot(page, "legacy-consent-site-token")
    page.get_by_role("button", name="Allow").click()
    expect(page.locator("#legacy-me")).to_contain_text('"auth": "site_token"')
    expect(page.locator("#legacy-packet")).to_contain_text('"siteid"')
    page.goto(f"{stack.service}/site/authorized-apps")
    expect(page.get_by_role("cell", name="Sample Third-Party App")).to_be_visible()
    screenshot(page, "site-authorized-apps")


def test_member_asking_for_site_token_gets_an_error(page, stack):
    page.goto(stack.sample)
    page.get_by_role("link", name="Connect as site").click()
    login(page, stack.service, "member", PASSWORDS["member"])
    expect(page.locator("#legacy-error")).to_contain_text("site_admin_required")


def test_system_admin_creates_module_app_template_and_client(page, stack):
    page.goto(f"{stack.service}/admin/modules")
    login(page, stack.service, "admin", PASSWORDS["admin"])
    page.locator("#module-name").fill("Invoices")
    page.locator("#module-description").fill("Sends invoices for members")
    page.get_by_role("button", name="Create module").click()
    expect(page.get_by_role("heading", name="Invoices", exact=True)).to_be_visible()

    page.locator("#app-enabled").check()
    page.locator("#app-submit").click()
    expect(page.locator("#app-enabled")).to_be_checked()

    page.locator("#template-name").fill("Invoices template")
    page.get_by_label("openid").check()
    page.get_by_label("api").check()
    page.locator("#template-submit").click()
    expect(page.locator("#templates")).to_contain_text("Invoices template")

    page.locator("#client-name").fill("Invoice sender")
    page.locator("#client-template").select_option(label="Invoices template (openid api)")
    expect(page.locator("#client-scopes")).to_have_value("openid api")
    page.locator("#client-redirect-uri").fill("https://invoices.example/callback")
    page.locator("#add-redirect-uri").click()
    page.locator("input[name=redirect_uri]").last.fill("http://localhost:8080/callback")
    page.locator("#client-expires").fill("30")
    screenshot(page, "admin-create-client")
    page.locator("#client-submit").click()

    expect(page.get_by_role("heading", name="OAuth/OIDC client created")).to_be_visible()
    client_id = page.locator("#client-id").inner_text()
    secret = page.locator("#client-secret").inner_text()
    assert len(secret) >= 32
    page.goto(page.url)  # the secret is never shown again
    expect(page.get_by_text(secret)).to_have_count(0)
    page.goto(f"{stack.service}/admin/modules")
    page.get_by_role("link", name="Invoices").click()
    expect(page.locator("#tokens")).to_contain_text(client_id)
    assert secret not in page.content()


def test_oauth_connection_from_sample_app_then_revoked_in_profile(page, stack):
    page.goto(stack.sample)
    expect(page.locator("#oauth-status")).to_have_text("NOT_AUTHORIZED")
    page.get_by_role("link", name="Connect via OAuth2").click()
    login(page, stack.service, "member", PASSWORDS["member"])
    expect(page.locator(".app-name")).to_have_text("Sample Module")
    expect(page.locator(".scopes")).to_contain_text("openid")
    expect(page.locator(".scopes")).to_contain_text("api")
    screenshot(page, "oauth-consent")
    page.get_by_role("button", name="Allow").click()
    expect(page).to_have_url(stack.sample + "/")
    page.get_by_role("button", name="Check connection").click()
    expect(page.locator("#oauth-status")).to_have_text("AUTHORIZED")
    expect(page.locator("#oauth-id-token")).to_contain_text('"company": "Sample CU"')
    page.get_by_role("button", name="Call /api/v1/me").click()
    expect(page.locator("#oauth-me")).to_contain_text('"auth": "oauth"')
    screenshot(page, "sample-app-oauth")

    page.goto(f"{stack.service}/profile")
    row = page.get_by_role("row", name=re.compile("Sample Module"))
    expect(row).to_contain_text("Sample Third-Party App")
    screenshot(page, "profile-external-apps")
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("row", name=re.compile("Sample Module"))).to_have_count(0)

    page.goto(stack.sample)
    page.get_by_role("button", name="Check connection").click()
    expect(page.locator("#oauth-status")).to_have_text("NOT_AUTHORIZED")


def test_pages_are_usable_on_a_phone_width(page, stack):
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(f"{stack.service}/login")
    login(page, stack.service, "member", PASSWORDS["member"])
    page.goto(f"{stack.service}/auth/?apptoken={stack.info['app_token']}&type=44")
    allow = page.get_by_role("button", name="Allow")
    expect(allow).to_be_visible()
    box = allow.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 375
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the consent page scrolls sideways on a phone ({width}px)"
    screenshot(page, "legacy-consent-phone")


def test_sign_out_everywhere_and_password_change_in_the_profile(chromium, page, stack):
    """Two browsers signed in as the member: "Sign out everywhere" in one signs both
    out; a new password set in the profile signs every browser out again."""
    other = chromium.new_context().new_page()
    _sign_in(other, stack, PASSWORDS["member"])
    _sign_in(page, stack, PASSWORDS["member"])
    page.goto(stack.service + "/profile")
    screenshot(page, "profile-sign-in")
    page.get_by_role("button", name="Sign out everywhere").click()
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.get_by_text("Signed out everywhere")).to_be_visible()
    other.goto(stack.service + "/profile")
    expect(other).to_have_url(re.compile(r"/login"))

    _sign_in(other, stack, PASSWORDS["member"])
    _sign_in(page, stack, PASSWORDS["member"])
    page.goto(stack.service + "/profile")
    page.get_by_role("link", name="Change password").click()
    page.get_by_label("Current password").fill(PASSWORDS["member"])
    page.get_by_label("New password", exact=True).fill("a brand new password")
    page.get_by_label("New password again").fill("a brand new password")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Password changed")).to_be_visible()
    other.goto(stack.service + "/profile")
    expect(other).to_have_url(re.compile(r"/login"))
    _sign_in(other, stack, "a brand new password")
    other.goto(stack.service + "/profile")
    expect(other.get_by_role("button", name="Sign out everywhere")).to_be_visible()
    other.context.close()


def _sign_in(page, stack, password: str) -> None:
    page.goto(stack.service + "/login")
    login(page, stack.service, "member", password)
    expect(page).not_to_have_url(re.compile(r"/login"))


def test_sample_app_signs_in_with_col_auth_silently_the_second_time_and_signs_out(page, stack):
    """The demo's "Sign in with col_auth": prompt=none first. The first time col_auth
    asks for a sign-in and the consent; after "Sign out" (which ends the col_auth
    session too), a person signed in at col_auth gets in without any col_auth page."""
    page.goto(stack.sample)
    page.get_by_role("link", name="Sign in with col_auth").click()
    expect(page).to_have_url(re.compile(r"/login"))  # login_required, asked again
    login(page, stack.service, "member", PASSWORDS["member"])
    page.get_by_role("button", name="Allow").click()
    expect(page).to_have_url(stack.sample + "/")
    expect(page.locator("#signin-name")).to_have_text("Morgan Member")
    screenshot(page, "sample-app-signed-in")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(stack.sample + "/")
    expect(page.get_by_text("Signed out of this app and of col_auth.")).to_be_visible()
    page.goto(stack.service + "/profile")
    expect(page).to_have_url(re.compile(r"/login"))

    login(page, stack.service, "member", PASSWORDS["member"])
    pages_shown = []
    page.on("response", lambda response: pages_shown.append(response.url)
            if response.status == 200 and response.url.startswith(stack.service + "/")
            and "text/html" in response.headers.get("content-type", "") else None)
    page.goto(stack.sample)
    page.get_by_role("link", name="Sign in with col_auth").click()
    expect(page.locator("#signin-name")).to_have_text("Morgan Member")
    assert pages_shown == [], f"col_auth showed a page: {pages_shown}"
