"""The private `withdrawals` stream's payloads, from the accounts stage's command results."""

from ws.payloads import withdrawal

USDC = {"symbol": "USDC", "decimals": 6}
ASSETS = {"USDC": USDC}


def result(kind: str, accepted: bool = True, **fields) -> dict:
    return {"command_id": "c1", "account": "a1", "accepted": accepted, "reason": None if accepted else "why",
            "order_id": None, "ts": 7, "kind": kind, "asset": "USDC", "amount": 12_500_000, "reference": None,
            "withdrawal_id": None, "completed": None, **fields}


def test_a_request_is_processing_or_rejected_with_its_reason():
    held = withdrawal(result("Withdraw", reference="sol:addr-1"), ASSETS, 9)
    assert held == {"e": "withdrawalUpdate", "E": 9, "i": "c1", "a": "USDC", "q": "12.5", "X": "processing",
                    "r": None, "T": 7, "address": "sol:addr-1"}
    refused = withdrawal(result("Withdraw", accepted=False, reason="insufficient_funds"), ASSETS, 9)
    assert (refused["X"], refused["r"]) == ("rejected", "insufficient_funds")


def test_a_settlement_names_the_withdrawal_and_the_operators_reference():
    done = withdrawal(result("SettleWithdrawal", withdrawal_id="w1", completed=True, reference="tx-1"), ASSETS, 9)
    assert (done["i"], done["X"], done["ref"], done["q"]) == ("w1", "completed", "tx-1", "12.5")
    failed = withdrawal(result("SettleWithdrawal", withdrawal_id="w1", completed=False), ASSETS, 9)
    assert (failed["i"], failed["X"]) == ("w1", "failed")


def test_nothing_for_other_results_refused_settlements_or_unknown_assets():
    assert withdrawal(result("Deposit"), ASSETS, 9) is None
    assert withdrawal(result("CancelOrder", accepted=False, asset=None, amount=None), ASSETS, 9) is None
    assert withdrawal(result("SettleWithdrawal", accepted=False, withdrawal_id="w1", completed=True), ASSETS, 9) is None
    assert withdrawal(result("Withdraw"), {}, 9) is None
