"""Embedded stand-ins for Redis, Stripe and Amazon SES.

`make run` and the test suite start these on 127.0.0.1 when the environment
does not name real services. See embedded.services for how that is decided.
"""
