"""The trading page in a real browser (Debian's Chromium, driven by Playwright): two people sign
up, trade with each other from the order form, and see it in every panel; a cancel releases its
hold; the API's error shows next to its field; the page recovers when the hub restarts."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from .markets import fresh_market

pytestmark = pytest.mark.timeout(600)
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = Path(os.environ.get("EXCHANGE_TEST_OUTPUT", "test-output")) / "page"


@pytest.fixture(scope="module")
def spare_market(stack, infra):
    """A market to halt, of the module's own."""
    return asyncio.run(fresh_market(infra))


@pytest.fixture(scope="module")
def browser(stack, market, spare_market):
    # After the fixtures that call asyncio.run: Playwright's sync API keeps an event loop running.
    if CHROMIUM is None:
        pytest.fail("no Chromium: install Debian's `chromium` package (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def market(stack, infra):
    return asyncio.run(fresh_market(infra, maker_fee="0.001", taker_fee="0.002"))


def open_page(browser, stack, market, width: int = 1280, height: int = 800):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors: list[str] = []
    # A market without trades has no ticker yet (404): the page shows dashes. Anything else failing,
    # or any script error, fails the test.
    quiet = ("/api/v1/ticker?",)
    page.on("console", lambda message: message.type == "error" and not message.text.startswith(
        "Failed to load resource") and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda response: response.status >= 400 and not any(q in response.url for q in quiet)
            and errors.append(f"{response.status} {response.url}"))
    page.goto(f"{stack.base_url}/?market={market['symbol']}")
    page.wait_for_selector("#status:has-text('live')")
    page.errors = errors
    return page


def sign_up(page, stack, name: str, market: dict) -> None:
    page.click("nav >> text=Sign up")
    page.fill("#auth-form [name=username]", name)
    page.fill("#auth-form [name=email]", f"{name}-{os.urandom(4).hex()}@example.com")
    page.fill("#auth-form [name=password]", "s3cret-pass")
    page.click("#auth-form button[type=submit]")
    page.wait_for_selector("nav >> text=Log out")
    token = page.evaluate("sessionStorage.getItem('exchange.token')")
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        for asset, amount in ((market["base"], "100"), ("USDC", "10000")):
            funded = http.post("/api/v1/wallet/deposits", json={"asset": asset, "amount": amount},
                               headers={"Authorization": f"Bearer {token}"})
            assert funded.status_code == 201, funded.text
    page.wait_for_selector(f"#balances tr[data-asset='{market['base']}']")


def order(page, side: str, price: str, quantity: str, post_only: bool = False) -> None:
    page.check(f"#order-form input[name=side][value={side}]")
    page.select_option("#order-form [name=type]", "limit")
    page.fill("#order-form [name=price]", price)
    page.fill("#order-form [name=quantity]", quantity)
    page.set_checked("#order-form [name=post_only]", post_only)
    page.click("#order-form button[type=submit]")


def balance(page, asset: str) -> tuple[str, str]:
    row = page.locator(f"#balances tr[data-asset='{asset}'] td")
    return row.nth(1).inner_text(), row.nth(2).inner_text()


def wait_for_balance(page, asset: str, expected: tuple[str, str]) -> None:
    from playwright.sync_api import TimeoutError as Timeout

    try:
        _wait_for_balance(page, asset, expected)
    except Timeout:
        shown = page.locator("#balances").inner_text()
        raise AssertionError(f"{asset} {expected} never shown; balances: {shown!r}") from None


def _wait_for_balance(page, asset: str, expected: tuple[str, str]) -> None:
    page.wait_for_function("([asset, available, held]) => { const r = document.querySelector("
                           "`#balances tr[data-asset='${asset}']`); return r && r.cells[1].textContent === available"
                           " && r.cells[2].textContent === held; }", arg=[asset, *expected], timeout=30_000)


def test_two_people_trade_from_the_form_and_every_panel_shows_it(browser, stack, market):
    buyer = open_page(browser, stack, market)
    seller = open_page(browser, stack, market)
    sign_up(buyer, stack, "buyer", market)
    sign_up(seller, stack, "seller", market)
    base = market["base"]
    assert buyer.locator("#grid").inner_text().startswith("tick 0.01 · step 0.01")
    buyer.fill("#order-form [name=price]", "12.5")
    buyer.fill("#order-form [name=quantity]", "2")
    assert "25.050000 USDC with fees" in buyer.locator("#cost").inner_text()  # 25 + 0.2 % taker fee, at most

    before = {name: {asset: Decimal(balance(page, asset)[0]) for asset in (base, "USDC")}
              for name, page in (("buyer", buyer), ("seller", seller))}
    order(buyer, "buy", "12.5", "2")
    buyer.wait_for_selector("#open tbody tr")
    buyer.wait_for_function("() => document.querySelector(\"#balances tr[data-asset='USDC']\").cells[2]"
                            ".textContent !== '0.000000'")  # the hold shows
    available, held = map(Decimal, balance(buyer, "USDC"))
    assert available + held == before["buyer"]["USDC"] and held >= Decimal("25.05")
    seller.wait_for_selector("#book .bids td.bid:has-text('12.50')")  # both see the bid in the book
    order(seller, "sell", "12.5", "2")

    for page in (buyer, seller):
        page.wait_for_selector("#trades tbody tr td:has-text('12.50')")
        page.wait_for_function("() => !document.querySelector('#book .bids td.bid')")  # the level is gone
    def shown(amount: Decimal, places: str) -> tuple[str, str]:
        return str(amount.quantize(Decimal(places))), str(Decimal(0).quantize(Decimal(places)))

    wait_for_balance(buyer, base, shown(before["buyer"][base] + 2, "0.000001"))
    wait_for_balance(buyer, "USDC", shown(before["buyer"]["USDC"] - Decimal("25.025"), "0.000001"))  # 0.1 % maker
    wait_for_balance(seller, base, shown(before["seller"][base] - 2, "0.000001"))
    wait_for_balance(seller, "USDC", shown(before["seller"]["USDC"] + Decimal("24.95"), "0.000001"))  # 0.2 % taker
    buyer.click("[role=tab][data-tab=history]")
    buyer.wait_for_selector("#history tbody tr td:has-text('FILLED')")
    buyer.click("[role=tab][data-tab=fills]")
    buyer.wait_for_selector("#fills tbody tr td:has-text('maker')")
    assert buyer.locator("#open tbody tr").count() == 0
    SHOTS.mkdir(parents=True, exist_ok=True)
    buyer.screenshot(path=str(SHOTS / "trading-page-1280.png"), full_page=True)
    phone = open_page(browser, stack, market, width=390, height=844)
    phone.screenshot(path=str(SHOTS / "trading-page-390.png"), full_page=True)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    for page in (buyer, seller, phone):
        assert not page.errors, page.errors


def test_the_bell_counts_unread_notifications_and_marks_them_read(browser, stack, market):
    maker, taker = open_page(browser, stack, market), open_page(browser, stack, market)
    sign_up(maker, stack, "bellmaker", market)
    sign_up(taker, stack, "belltaker", market)
    maker.wait_for_selector("#bell:not([hidden])")
    before = int(maker.locator("#bell .count").inner_text() or 0)  # the sign-in and the deposits
    order(maker, "sell", "13.5", "1")
    maker.wait_for_selector("#open tbody tr")
    order(taker, "buy", "13.5", "1")
    maker.wait_for_function(f"() => Number(document.querySelector('#bell .count').textContent) > {before}")
    maker.click("#bell")
    filled = maker.locator("#notifications li[data-kind=order_filled]")
    filled.first.wait_for()
    assert "filled: 1" in filled.first.inner_text() and filled.first.get_attribute("class") == "unread"
    filled.first.click()
    maker.wait_for_selector("#notifications li[data-kind=order_filled].read")
    maker.click("#notifications [data-action=read-all]")
    maker.wait_for_function("() => document.querySelector('#bell .count').textContent === ''")
    assert maker.locator("#notifications li.unread").count() == 0
    maker.reload()  # the read state is the server's
    maker.wait_for_selector("#bell:not([hidden])")
    maker.wait_for_function("() => document.querySelector('#bell .count').textContent === ''")
    maker.click("[role=tab][data-tab=statement]")  # this month: the deposit and the sale
    row = maker.locator(f"#statement tr[data-asset='{market['base']}'] td")
    row.first.wait_for()
    assert row.all_inner_texts() == [market["base"], "0", "100", "0", "0", "1", "0", "0", "99"]
    for page in (maker, taker):
        assert not page.errors, page.errors


def test_a_cancel_releases_the_hold_and_a_bad_price_shows_next_to_its_field(browser, stack, market):
    page = open_page(browser, stack, market)
    sign_up(page, stack, "canceller", market)
    usdc = balance(page, "USDC")
    order(page, "buy", "10", "1")
    page.wait_for_function("() => document.querySelector(\"#balances tr[data-asset='USDC']\").cells[2]"
                           ".textContent !== '0.000000'")
    page.click("#open tbody tr button:has-text('Cancel')")
    wait_for_balance(page, "USDC", usdc)  # all of the hold is back
    page.wait_for_function("() => !document.querySelector('#open tbody tr')")

    order(page, "buy", "10.001", "1")  # off the 0.01 tick
    error = page.locator("[data-error=price]")
    error.wait_for()
    assert re.search(r"price|tick", error.inner_text(), re.IGNORECASE)
    assert page.evaluate("document.activeElement.name") == "price"


def test_the_page_recovers_after_the_hub_restarts(browser, stack, market):
    page = open_page(browser, stack, market)
    sign_up(page, stack, "steady", market)
    stack.stop("ws")
    page.wait_for_selector("#status:has-text('reconnecting')")
    stack.start("ws")
    page.wait_for_selector("#status:has-text('live')", timeout=60_000)
    order(page, "sell", "30", "1")
    other = open_page(browser, stack, market)
    sign_up(other, stack, "other", market)
    order(other, "buy", "30", "1")
    page.wait_for_selector("#trades tbody tr td:has-text('30.00')", timeout=30_000)  # streamed after the restart
    wait_for_balance(page, market["base"], ("99.000000", "0.000000"))  # the faucet's 100, less the 1 sold


def test_api_keys_are_made_with_the_secret_shown_once_listed_and_revoked(browser, stack, market):
    page = open_page(browser, stack, market)
    sign_up(page, stack, "keyholder", market)
    page.click("nav >> text=API keys")
    page.fill("#key-form [name=label]", "my bot")
    page.click("#key-form button[type=submit]")
    secret = page.locator("#new-secret")
    secret.wait_for()
    assert re.search(r"secret [0-9a-f]{64}", secret.inner_text())
    row = page.locator("#keys tbody tr", has_text="my bot")
    row.locator("button:has-text('Revoke')").click()
    page.wait_for_selector("#keys tbody tr:has-text('revoked')")
    page.click("#keys-dialog [data-close]")
    page.reload()  # the secret is gone for good; the key is listed as revoked
    page.wait_for_selector("#status:has-text('live')")
    page.click("nav >> text=API keys")
    page.wait_for_selector("#keys tbody tr:has-text('revoked')")
    assert page.locator("#new-secret").is_hidden()


def test_a_halted_market_is_shown_as_halted_and_its_form_is_disabled(browser, stack, spare_market):
    from .test_api import new_admin

    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        admin = new_admin(stack, http)
        symbol = spare_market["symbol"]
        assert http.post(f"/api/v1/admin/markets/{symbol}/halt", headers=admin).status_code == 200
        try:
            for _ in range(40):  # every API process follows the markets topic
                if http.get(f"/api/v1/markets/{symbol}").json()["status"] == "halted":
                    break
                time.sleep(0.25)
            page = open_page(browser, stack, {"symbol": symbol})
            assert page.locator("#halted").is_visible()
            assert page.locator("#order-form button[type=submit]").is_disabled()
            assert "(halted)" in page.locator(f"#market option[value={symbol}]").inner_text()
        finally:
            assert http.post(f"/api/v1/admin/markets/{symbol}/resume", headers=admin).status_code == 200
