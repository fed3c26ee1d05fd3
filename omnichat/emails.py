"""Email addresses: the one validator for every address Omnichat stores.

Staff accounts (API, `create-user`, the bootstrap owner), follow-up forms and what a host page
says about its visitor all go through `parse_email`, so an address is held to the same rules
wherever it came from. The rules are email-validator's syntax checks (RFC 5321/5322 dot-atom
local part, an internationalised domain name with a dot, no display name, quoted local part or
IP literal), with no DNS lookup. A query string glued on (`a@b.example?bcc=...`) is refused,
though a local part may still legally hold `?`, `&` or `%`: whoever turns an address into a URL
encodes it (the admin page's mailto: links do).
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from omnichat.errors import Invalid

MAX_EMAIL = 254


def parse_email(value: object, field: str = "email") -> str:
    """`value` as a normalised address (surrounding spaces off, domain lower-cased), or
    `Invalid` naming `field`."""
    if not isinstance(value, str):
        raise Invalid(field, "must be a string")
    text = value.strip()
    # email-validator enforces the length too; refusing early keeps huge inputs cheap.
    if len(text) > MAX_EMAIL:
        raise Invalid(field, "must be an email address")
    try:
        checked = validate_email(
            text,
            check_deliverability=False,  # no DNS at request time; only a reply proves an address
            allow_display_name=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            # Accepts the reserved .test domain (tests use it; it can receive no mail anyway).
            test_environment=True,
        )
    except EmailNotValidError:
        raise Invalid(field, "must be an email address") from None
    return checked.normalized
