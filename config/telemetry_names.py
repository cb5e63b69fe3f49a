"""Span, event and attribute names of the shop's own telemetry.

Where the OpenTelemetry semantic conventions define a name, the
instrumentation libraries emit it. The names below are the shop's own, one
prefix per domain, so that a person can search Jaeger for `order.id=42`
and find every span of that order in the web process and the worker.
"""

# Spans
SPAN_ORDER_CREATE = "order.create"
SPAN_ORDER_MARK_PAID = "order.mark_paid"
SPAN_PAYMENT_CONFIRM = "payment.confirm"
SPAN_PAYMENT_SYNC = "payment.sync"
SPAN_PAYMENT_REFUND = "payment.refund"
SPAN_STOCK_RESERVE = "stock.reserve"
SPAN_EMAIL_SEND = "email.send"

# Order attributes
ORDER_ID = "order.id"
ORDER_LINE_COUNT = "order.line_count"
ORDER_TOTAL = "order.total"
ORDER_CURRENCY = "order.currency"

# Payment attributes
PAYMENT_INTENT_ID = "payment.intent_id"
PAYMENT_OUTCOME = "payment.outcome"
PAYMENT_DECLINE_CODE = "payment.decline_code"
PAYMENT_REFUND_ID = "payment.refund_id"

# Stock attributes
STOCK_SKU = "stock.sku"
STOCK_QUANTITY = "stock.quantity"
# Rows that the conditional stock UPDATE changed: 1, or 0 when its
# condition matched no row. Absent when no UPDATE ran (already reserved).
STOCK_ROWS_UPDATED = "stock.rows_updated"
STOCK_AVAILABLE = "stock.available"
STOCK_ALREADY_RESERVED = "stock.already_reserved"
# The stock level that a conditional update expects (the repeat_stock_update fault).
STOCK_EXPECTED = "stock.expected"

# Email attributes. The recipient's domain only: the address is customer data.
EMAIL_KIND = "email.kind"
EMAIL_ESP = "email.esp"
EMAIL_MESSAGE_ID = "email.message_id"
EMAIL_RECIPIENT_DOMAIN = "email.recipient_domain"

# The status that the order page or the status endpoint showed the customer,
# as an Order.Status value, set on the request's SERVER span.
ORDER_STATUS_SHOWN = "order.status_shown"

# Fulfillment task attributes
FULFILLMENT_ATTEMPT = "fulfillment.attempt"
FULFILLMENT_MAX_ATTEMPTS = "fulfillment.max_attempts"
FULFILLMENT_RETRY_COUNTDOWN = "fulfillment.retry.countdown_s"
FULFILLMENT_TRANSIENT = "fulfillment.error.transient"

# Attributes that instrumentations record about the person behind a request.
# The exporter drops them: an IP address and a browser signature are
# personal data and do not help find a fault in an order.
CLIENT_ATTRIBUTES_DROPPED = frozenset(
    {
        "net.peer.ip",
        "net.sock.peer.addr",
        "client.address",
        "client.port",
        "network.peer.address",
        "http.client_ip",
        "http.user_agent",
        "user_agent.original",
    }
)

# Events
EVENT_PAYMENT_DECLINED = "payment.declined"
EVENT_PAYMENT_REQUIRES_ACTION = "payment.requires_action"
EVENT_STOCK_INSUFFICIENT = "stock.insufficient"
EVENT_FULFILLMENT_RETRY = "fulfillment.retry"
EVENT_ORDER_ALREADY_PAID = "order.already_paid"
