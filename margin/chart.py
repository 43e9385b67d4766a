"""Chart of accounts, transfer codes, ledgers and the id scheme of the margin-lending books.

Margin owns its chart (the ledger below it is margin-agnostic: it knows accounts,
transfers and ledgers, not what a margin loan is).

Account ids are derived, not allocated, so that every operation can name its accounts
without a lookup and a retried operation names the same ones:

    id = owner × 10^8 + code × 10^6 + sub

``owner`` is the customer id (≥ 1) or 0 for the platform's own accounts; ``sub`` is 0 for a
customer's cash-ledger accounts, the instrument id for securities accounts, and the
currency number for the platform's cash-ledger accounts. Customer ids must stay below
9 × 10^10 and instrument ids below 10^6 so that ids fit a signed 64-bit integer.

Ledgers: the ISO 4217 numeric code for cash (156 CNY, 840 USD); 1000 + that code for the
off-balance-sheet memo of credit lines (how much of a line is in use, so that a draw past
the line is refused by the ledger itself); 1,000,000 + instrument id for shares.
"""

from __future__ import annotations

import enum
import hashlib

from creditdesk.errors import InputError
from ledger.domain import Account, AccountFlags

MAX_CUSTOMER_ID = 90_000_000_000
MAX_INSTRUMENT_ID = 999_999
CURRENCIES = {"CNY": 156, "USD": 840}
MEMO_LEDGER_OFFSET = 1000
INSTRUMENT_LEDGER_OFFSET = 1_000_000


class Code(enum.IntEnum):
    """Account codes (the chart of accounts)."""

    CUSTOMER_CASH = 10  # liability: the customer's free cash (credit balance; cannot go negative)
    MARGIN_LOAN = 11  # asset: principal lent (debit balance; cannot be repaid past zero)
    ACCRUED_INTEREST = 12  # asset: interest accrued and not yet paid
    CREDIT_LINE = 13  # memo: unused part of the customer's line (credit balance; draws cannot pass it)
    SECURITIES = 14  # the customer's shares of one instrument (debit balance; cannot sell past zero)
    FUNDING = 20  # platform: settlement bank cash / funding source
    INTEREST_INCOME = 21
    FEE_INCOME = 22
    CLEARING_CASH = 23  # platform: cash owed to/from the exchange for trades
    LOSS_WRITE_OFF = 24  # platform: expense account for shortfalls written off
    LINE_CONTROL = 25  # memo: contra account of all credit lines
    CLEARING_SECURITIES = 26  # platform: shares delivered to/from the exchange
    # Credit-loss books (margin/credit_books.py): opened on first use, not with the facility.
    LOAN_ALLOWANCE = 15  # contra-asset: ECL allowance against the customer's loan (credit balance)
    DEFAULTED_EXPOSURE = 16  # memo: exposure at default, posted once when the facility defaults
    IMPAIRMENT_EXPENSE = 27  # platform: provisions charged (released provisions credit it)
    RECOVERY_INCOME = 28  # platform: cash collected after a write-off
    DEFAULT_CONTROL = 29  # memo: contra account of all defaulted exposures


class TransferCode(enum.IntEnum):
    DEPOSIT = 1
    WITHDRAWAL = 2
    LOAN_DRAW = 3
    LOAN_REPAY = 4
    TRADE_CASH = 5
    TRADE_SECURITIES = 6
    INTEREST_ACCRUAL = 7
    INTEREST_PAYMENT = 8
    FEE = 9
    LIQUIDATION_CASH = 10
    LIQUIDATION_SECURITIES = 11
    WRITE_OFF = 12
    LINE_GRANT = 13
    LINE_USE = 14
    LINE_RELEASE = 15
    PROVISION = 16  # allowance up: impairment expense -> loan allowance
    PROVISION_RELEASE = 17  # allowance down (or used at write-off)
    DEFAULT_MARK = 18  # memo: the exposure at default, user_data = cause (1 shortfall, 2 credit event)
    RECOVERY = 19  # collections after write-off, user_data = customer id
    COLLECTION_REPAYMENT = 20  # cash paid against a shortfall
    LINE_CHANGE = 21  # a line review moved the limit (memo ledger)
    MANUAL = 99


CUSTOMER_FLAGS = {
    Code.CUSTOMER_CASH: AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
    Code.MARGIN_LOAN: AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS,
    Code.ACCRUED_INTEREST: AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS,
    Code.CREDIT_LINE: AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
    Code.SECURITIES: AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS,
}


def currency_ledger(currency: str) -> int:
    try:
        return CURRENCIES[currency.upper()]
    except KeyError as exc:
        raise InputError(
            f"currency must be one of {sorted(CURRENCIES)}, got {currency!r}", field="currency"
        ) from exc


def memo_ledger(cash_ledger: int) -> int:
    return MEMO_LEDGER_OFFSET + cash_ledger


def instrument_ledger(instrument_id: int) -> int:
    return INSTRUMENT_LEDGER_OFFSET + instrument_id


def account_id(owner: int, code: Code, sub: int = 0) -> int:
    if not 0 <= owner < MAX_CUSTOMER_ID or not 0 <= sub <= MAX_INSTRUMENT_ID:
        raise ValueError(f"owner {owner} or sub {sub} outside the id scheme")
    return owner * 10**8 + int(code) * 10**6 + sub


def customer_account(customer_id: int, code: Code, instrument_id: int = 0) -> int:
    if customer_id <= 0:
        raise ValueError("customer ids start at 1 (0 is the platform)")
    return account_id(customer_id, code, instrument_id if code == Code.SECURITIES else 0)


def platform_account(code: Code, cash_ledger: int = 0, instrument_id: int = 0) -> int:
    return account_id(0, code, instrument_id if code == Code.CLEARING_SECURITIES else cash_ledger)


def owner_of(account: int) -> int:
    return account // 10**8


def code_of(account: int) -> int:
    return (account // 10**6) % 100


def customer_accounts(customer_id: int, cash_ledger: int) -> list[Account]:
    """The four cash-side accounts of a margin customer (positions are opened on first buy)."""
    memo = memo_ledger(cash_ledger)
    return [
        Account(
            customer_account(customer_id, c), memo if c == Code.CREDIT_LINE else cash_ledger, int(c), int(f)
        )
        for c, f in CUSTOMER_FLAGS.items()
        if c != Code.SECURITIES
    ]


def position_account(customer_id: int, instrument_id: int) -> Account:
    return Account(
        customer_account(customer_id, Code.SECURITIES, instrument_id),
        instrument_ledger(instrument_id),
        int(Code.SECURITIES),
        int(CUSTOMER_FLAGS[Code.SECURITIES]),
    )


def platform_accounts(cash_ledger: int) -> list[Account]:
    cash = [Code.FUNDING, Code.INTEREST_INCOME, Code.FEE_INCOME, Code.CLEARING_CASH, Code.LOSS_WRITE_OFF]
    out = [Account(platform_account(c, cash_ledger), cash_ledger, int(c)) for c in cash]
    out.append(
        Account(
            platform_account(Code.LINE_CONTROL, cash_ledger), memo_ledger(cash_ledger), int(Code.LINE_CONTROL)
        )
    )
    return out


def clearing_securities_account(instrument_id: int) -> Account:
    return Account(
        platform_account(Code.CLEARING_SECURITIES, instrument_id=instrument_id),
        instrument_ledger(instrument_id),
        int(Code.CLEARING_SECURITIES),
    )


def operation_transfer_id(*parts: object) -> int:
    """A transfer id derived from an operation's identity, so a retried operation reuses it.

    BLAKE2b of the parts, masked to a positive signed 64-bit integer. By the birthday bound
    the chance of any collision among 10^8 operation transfers is about 5 × 10^-4; a collision
    is loud (``exists_with_different_body``, the operation fails and can be retried under a
    new operation id), never a silently skipped transfer.
    """
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") & (2**63 - 1)) or 1
