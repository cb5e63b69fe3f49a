import re

from django import forms

# Countries the shop ships to. The code is ISO 3166-1 alpha-2.
SHIPPING_COUNTRIES = [
    ("US", "United States"),
    ("CA", "Canada"),
    ("GB", "United Kingdom"),
    ("IE", "Ireland"),
    ("DE", "Germany"),
    ("FR", "France"),
    ("NL", "Netherlands"),
    ("BE", "Belgium"),
    ("ES", "Spain"),
    ("IT", "Italy"),
    ("SE", "Sweden"),
    ("AU", "Australia"),
]

PAYMENT_METHOD_ID = re.compile(r"^pm_[A-Za-z0-9_]{1,200}$")
# The checkout page fills in secrets.token_urlsafe(24), which is 32 characters
# of the URL-safe base64 alphabet.
CHECKOUT_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")
POSTAL_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 -]{1,18}[A-Za-z0-9]$")


# Line breaks, tabs and other control characters (Unicode category Cc), and the
# bidirectional embedding, override and isolate characters, which can make a
# name or an address read differently on a label than it was typed.
LAYOUT_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def validate_single_line(value: str) -> None:
    if LAYOUT_CHARACTERS.search(value):
        raise forms.ValidationError(
            "Enter this on one line, without tabs, control characters or text-direction marks.",
            code="layout_characters",
        )


class CheckoutTokenField(forms.Field):
    """Optional hidden token of one rendering of the checkout page.

    Any malformed value, a NUL character included, gets the one message below,
    because the customer cannot see the field and can only reload the page.
    """

    widget = forms.HiddenInput

    def __init__(self, **kwargs) -> None:
        super().__init__(required=False, **kwargs)

    def to_python(self, value) -> str:
        return "" if value in self.empty_values else str(value)

    def validate(self, value: str) -> None:
        if value and not CHECKOUT_TOKEN.fullmatch(value):
            raise forms.ValidationError(
                "This checkout form is damaged or out of date, and you were not charged. "
                "Reload the page and submit it again.",
                code="invalid",
            )


class CheckoutForm(forms.Form):
    email = forms.EmailField(
        max_length=254,
        error_messages={"invalid": "Enter an email address like name@example.com."},
    )
    full_name = forms.CharField(label="Full name", max_length=200, min_length=2, validators=[validate_single_line])
    address_line1 = forms.CharField(label="Address", max_length=200, validators=[validate_single_line])
    address_line2 = forms.CharField(
        label="Apartment, suite, etc.", max_length=200, required=False, validators=[validate_single_line]
    )
    city = forms.CharField(max_length=100, validators=[validate_single_line])
    postal_code = forms.CharField(label="Postal code", max_length=20)
    country = forms.ChoiceField(choices=[("", "Choose a country")] + SHIPPING_COUNTRIES)

    # Filled in by Stripe.js in the browser, or by a scripted client with a
    # Stripe test PaymentMethod id. The card number never reaches this form.
    payment_method = forms.CharField(
        widget=forms.HiddenInput,
        required=False,
        max_length=255,
    )
    # Set to "1" by the checkout script, so the server can tell that the browser can
    # run Stripe.js for 3-D Secure.
    stripe_js = forms.BooleanField(widget=forms.HiddenInput, required=False)
    # Set by the checkout page; a scripted checkout may leave it out.
    checkout_token = CheckoutTokenField()

    def clean_full_name(self) -> str:
        name = self.cleaned_data["full_name"].strip()
        if not any(character.isalpha() for character in name):
            raise forms.ValidationError("Enter your full name as it should appear on the parcel.")
        return name

    def clean_postal_code(self) -> str:
        code = self.cleaned_data["postal_code"].strip()
        if not POSTAL_CODE.match(code):
            raise forms.ValidationError(
                "Enter a postal code of 3 to 20 letters, digits, spaces or hyphens."
            )
        return code.upper()

    def clean_payment_method(self) -> str:
        payment_method = self.cleaned_data["payment_method"].strip()
        if not payment_method:
            raise forms.ValidationError("Enter your card details.")
        if not PAYMENT_METHOD_ID.match(payment_method):
            raise forms.ValidationError(
                "The payment method is not a Stripe PaymentMethod id (pm_...). Enter your card again."
            )
        return payment_method


def checkout_token_submitted(data) -> str:
    """Return the checkout token in the POST data, or "" if it is missing or malformed.

    A malformed token is left for CheckoutForm to reject with a message.
    """
    token = data.get("checkout_token", "")
    return token if CHECKOUT_TOKEN.fullmatch(token) else ""
