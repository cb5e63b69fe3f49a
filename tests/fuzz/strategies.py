"""Hypothesis strategies for input that a customer, a script or an attacker could send."""
import json
import string

from hypothesis import strategies as st

from shop.cart import MAX_QUANTITY_PER_LINE

# Text from every Unicode category, surrogates excluded because a form field
# can never carry them: the test client encodes the POST body as UTF-8.
any_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=60)

# Quantities outside 1..MAX_QUANTITY_PER_LINE, as numbers and as text.
out_of_range_quantities = st.one_of(
    st.integers(max_value=0),
    st.integers(min_value=MAX_QUANTITY_PER_LINE + 1),
    st.integers(min_value=10**6, max_value=10**40),
).map(str)

non_numeric_quantities = st.one_of(
    st.sampled_from(["abc", "1.5", "1e3", "0x10", "½", "١", "NaN", "inf", "--1", "1 2", "🎉", "\x00"]),
    any_text.filter(lambda text: not _is_whole_number(text)),
)

bad_quantities = st.one_of(out_of_range_quantities, non_numeric_quantities)

# Product ids that name no product: too large, negative, not numbers or empty.
unknown_product_ids = st.one_of(
    st.integers(min_value=10**6, max_value=2**63 - 1).map(str),
    st.integers(min_value=2**63, max_value=10**30).map(str),
    st.integers(max_value=0).map(str),
    st.sampled_from(["", "abc", "1.5", "1e3", "¹", "\x00", "1; DROP TABLE shop_product"]),
)

# Fields a client might add in the hope that the shop trusts them.
price_field_names = st.sampled_from(["price", "unit_price", "total", "amount", "line_total", "currency", "discount"])
price_field_values = st.one_of(st.integers(min_value=-(10**9), max_value=10**9).map(str), st.just("0"), any_text)
price_fields = st.dictionaries(price_field_names, price_field_values, min_size=1, max_size=4)

overlong_text = st.integers(min_value=256, max_value=5000).flatmap(
    lambda length: st.sampled_from(["x", "é", "漢", "🎉"]).map(lambda character: character * length)
)

invalid_emails = st.one_of(
    st.sampled_from(
        [
            "plainaddress",
            "@example.org",
            "ada@",
            "ada@@example.org",
            "ada lovelace@example.org",
            "ada@example..org",
            "ada@-example.org",
            "ada@example.org\x00",
            "ada@exa mple.org",
            "<script>@example.org",
        ]
    ),
    st.text(alphabet=string.ascii_letters + string.digits + "._-", min_size=1, max_size=40),
    st.integers(min_value=250, max_value=400).map(lambda length: "a" * length + "@example.org"),
)

# Bodies that are not JSON at all, or JSON that is not a Stripe event.
malformed_json = st.one_of(
    st.binary(max_size=200).filter(lambda body: not _is_json(body)),
    st.sampled_from([b"", b"{", b"{'type': 1}", b'{"type": "payment_intent.succeeded",}', b"\xff\xfe{}", b"nul"]),
)

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(any_text, children, max_size=3),
    max_leaves=8,
)

# JSON documents, often shaped like a payment_intent.succeeded event with
# fields of the wrong type, missing or out of range.
json_documents = st.one_of(
    _json_values,
    st.fixed_dictionaries(
        {"id": st.just("evt_fuzz"), "object": st.just("event"), "type": st.just("payment_intent.succeeded")},
        optional={
            "data": st.one_of(
                _json_values,
                st.fixed_dictionaries(
                    {},
                    optional={
                        "object": st.one_of(
                            _json_values,
                            st.fixed_dictionaries(
                                {},
                                optional={
                                    "id": st.one_of(_json_values, st.just("pi_fuzz")),
                                    "metadata": st.one_of(
                                        _json_values,
                                        st.fixed_dictionaries(
                                            {},
                                            optional={
                                                "order_id": st.one_of(
                                                    _json_values,
                                                    st.integers(min_value=2**63).map(str),
                                                    st.sampled_from(["²", "١٢", "-1", "1.0", " 1", "1\n"]),
                                                )
                                            },
                                        ),
                                    ),
                                },
                            ),
                        )
                    },
                ),
            )
        },
    ),
)


def _is_whole_number(text: str) -> bool:
    digits = text.strip().lstrip("+-")
    return digits.isascii() and digits.isdigit()


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True
