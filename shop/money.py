"""Format amounts stored in minor units, such as cents, for display."""

# Currencies whose minor unit is not a hundredth, from Stripe's list at
# https://docs.stripe.com/currencies. Stripe takes amounts in the smallest
# unit, so 500 JPY is stored as 500, and 1.500 KWD as 1500.
ZERO_DECIMAL_CURRENCIES = frozenset(
    {
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga",
        "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
    }
)
THREE_DECIMAL_CURRENCIES = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})

CURRENCY_SYMBOLS = {
    "usd": "$",
    "eur": "€",
    "gbp": "£",
    "jpy": "¥",
}


def currency_exponent(currency: str) -> int:
    """Return the number of decimal places of the currency's minor unit."""
    code = currency.lower()
    if code in ZERO_DECIMAL_CURRENCIES:
        return 0
    if code in THREE_DECIMAL_CURRENCIES:
        return 3
    return 2


def format_money(amount_minor: int, currency: str) -> str:
    """Format an amount in minor units, as "$24.00", "€1,250.50" or "24.00 CHF".

    Currencies without a symbol in CURRENCY_SYMBOLS get their upper-case ISO 4217
    code after the number. Negative amounts, such as refunds, start with a minus sign.
    """
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise TypeError(
            f"format_money() expects an integer amount in minor units, not {amount_minor!r}."
        )
    code = currency.lower()
    exponent = currency_exponent(code)

    sign = "-" if amount_minor < 0 else ""
    major, minor = divmod(abs(amount_minor), 10**exponent)
    number = f"{major:,}"
    if exponent:
        number += f".{minor:0{exponent}d}"

    symbol = CURRENCY_SYMBOLS.get(code)
    if symbol is not None:
        return f"{sign}{symbol}{number}"
    return f"{sign}{number} {code.upper()}"
