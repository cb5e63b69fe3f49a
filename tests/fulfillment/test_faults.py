"""The workshop's faults: switches, and each fault's effect in a real worker."""
import io

import pytest
from django.core.management import CommandError, call_command

from fulfillment.faults import (
    CONFIRM_BEFORE_FULFILLMENT,
    FAULTS,
    REPEAT_STOCK_UPDATE,
    RETRY_WHOLE_TASK,
    UNVERIFIED_SENDER,
    UnknownFaultError,
    fault_enabled,
    faults_apply_environment,
    faults_enabled,
    faults_from_environment,
    faults_set,
)
from fulfillment.models import EmailDelivery, FaultFlag, StockReservation, TaskAttempt
from orders import selectors
from orders.models import Order
from tests.conftest import checkout_data, wait_for


def test_workshop_scenario_names_all_faults():
    assert faults_from_environment({"SHOP_SCENARIO": "workshop"}) == list(FAULTS)


def test_fixed_scenario_names_none():
    assert faults_from_environment({"SHOP_SCENARIO": "fixed"}) == []


def test_shop_faults_names_some():
    environ = {"SHOP_FAULTS": " unverified_sender, retry_whole_task ,"}

    assert faults_from_environment(environ) == [UNVERIFIED_SENDER, RETRY_WHOLE_TASK]


def test_silent_environment_changes_nothing():
    assert faults_from_environment({}) is None


def test_unknown_fault_name_is_rejected():
    with pytest.raises(UnknownFaultError, match="Unknown fault 'slow_disk'. Use one of: confirm_before_fulfillment"):
        faults_from_environment({"SHOP_FAULTS": "slow_disk"})


def test_unknown_scenario_is_rejected():
    with pytest.raises(UnknownFaultError, match="SHOP_SCENARIO is 'chaos'. Use one of: workshop, fixed."):
        faults_from_environment({"SHOP_SCENARIO": "chaos"})


@pytest.mark.django_db
def test_flags_exist_and_are_off():
    assert set(FaultFlag.objects.values_list("name", flat=True)) == set(FAULTS)
    assert faults_enabled() == frozenset()


@pytest.mark.django_db
def test_environment_sets_flags():
    faults_set(enabled=[REPEAT_STOCK_UPDATE])

    active = faults_apply_environment({"SHOP_FAULTS": UNVERIFIED_SENDER})

    assert active == frozenset({UNVERIFIED_SENDER})
    assert fault_enabled(UNVERIFIED_SENDER)
    assert not fault_enabled(REPEAT_STOCK_UPDATE)


@pytest.mark.django_db
def test_same_fault_on_and_off_is_rejected():
    with pytest.raises(UnknownFaultError, match="cannot be switched both on and off"):
        faults_set(enabled=[UNVERIFIED_SENDER], disabled=[UNVERIFIED_SENDER])


@pytest.mark.django_db
def test_command_lists_and_sets_faults():
    output = io.StringIO()

    call_command("faults", "--on", UNVERIFIED_SENDER, RETRY_WHOLE_TASK, stdout=output)

    lines = output.getvalue().splitlines()
    assert len(lines) == len(FAULTS)
    assert any(line.startswith("on ") and UNVERIFIED_SENDER in line for line in lines)
    assert any(line.startswith("off") and REPEAT_STOCK_UPDATE in line for line in lines)
    assert faults_enabled() == frozenset({UNVERIFIED_SENDER, RETRY_WHOLE_TASK})


@pytest.mark.django_db
def test_command_switches_all_off():
    faults_set(enabled=list(FAULTS))

    call_command("faults", "--all-off", stdout=io.StringIO())

    assert faults_enabled() == frozenset()


@pytest.mark.django_db
def test_command_rejects_unknown_fault():
    with pytest.raises(CommandError, match="Unknown fault 'nope'"):
        call_command("faults", "--on", "nope", stdout=io.StringIO())


@pytest.mark.django_db
def test_admin_toggles_fault(admin_client):
    flags = {flag.name: flag for flag in FaultFlag.objects.all()}
    data = {
        "form-TOTAL_FORMS": str(len(flags)),
        "form-INITIAL_FORMS": str(len(flags)),
        "_save": "Save",
    }
    for index, flag in enumerate(FaultFlag.objects.order_by("name")):
        data[f"form-{index}-id"] = str(flag.pk)
        if flag.name == UNVERIFIED_SENDER:
            data[f"form-{index}-enabled"] = "on"

    response = admin_client.post("/admin/fulfillment/faultflag/", data)

    assert response.status_code == 302
    assert faults_enabled() == frozenset({UNVERIFIED_SENDER})


@pytest.mark.django_db
def test_confirm_before_fulfillment_hides_processing(product):
    from orders import services

    order = services.order_create(lines=[services.CheckoutLine(product=product, quantity=1)], customer=checkout_data())
    Order.objects.filter(pk=order.pk).update(status=Order.Status.PAID)
    order.refresh_from_db()
    assert selectors.order_status_payload(order=order)["status_label"] == "Processing"

    faults_set(enabled=[CONFIRM_BEFORE_FULFILLMENT])

    payload = selectors.order_status_payload(order=order)
    assert payload["status_label"] == "Confirmed"
    assert payload["final"] is True


def place_order(client, product, quantity: int = 2) -> Order:
    client.post("/cart/add/", {"product": product.pk, "quantity": quantity})
    response = client.post("/checkout/", checkout_data())
    assert response.status_code == 302, response.content[:300]
    return Order.objects.latest("pk")


def attempts_of(order: Order, task_name: str) -> list[tuple[int, str, str]]:
    rows = TaskAttempt.objects.filter(order=order, task_name=task_name).order_by("started_at")
    return [(row.attempt, row.outcome, row.exception_type.rpartition(".")[2]) for row in rows]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fulfillment_worker")
class TestFaultsInWorker:
    def test_workshop_scenario_shows_all_four_faults(self, client, product):
        faults_set(enabled=list(FAULTS))

        order = place_order(client, product)
        page = client.get(f"/orders/{order.confirmation_id}/")

        # Fault 1: the page reports the order as confirmed at once.
        assert "Thank you! Your order is confirmed." in page.content.decode()
        wait_for(
            lambda: Order.objects.get(pk=order.pk).status == Order.Status.FULFILLMENT_FAILED,
            timeout=60,
            message="the workshop order to fail",
        )
        assert client.get(f"/orders/{order.confirmation_id}/status/").json()["status_label"] == "Confirmed"
        # Faults 2, 3 and 4: the email is rejected, the whole task is retried
        # three times, and the repeated stock update fails its condition.
        assert attempts_of(order, "fulfillment.fulfill_order") == [
            (1, TaskAttempt.Outcome.RETRYING, "AnymailAPIError"),
            (2, TaskAttempt.Outcome.RETRYING, "ConditionalUpdateFailed"),
            (3, TaskAttempt.Outcome.FAILED, "ConditionalUpdateFailed"),
        ]
        first = TaskAttempt.objects.get(order=order, attempt=1)
        assert "MessageRejected" in first.exception_message
        product.refresh_from_db()
        assert product.stock == 8
        # Recorded, so that fixed code run later does not take the stock again.
        assert StockReservation.objects.filter(order=order).count() == 1

    def test_fixed_shop_after_faults_switched_off(self, client, product):
        faults_set(enabled=list(FAULTS))
        faults_set(disabled=list(FAULTS))

        order = place_order(client, product)

        # The delivery row is marked sent a moment before the task records its attempt.
        wait_for(
            lambda: EmailDelivery.objects.filter(order=order, status=EmailDelivery.Status.SENT).exists()
            and not TaskAttempt.objects.filter(order=order, outcome=TaskAttempt.Outcome.RUNNING).exists(),
            message="the confirmation email and its finished attempt",
        )
        order.refresh_from_db()
        assert order.status == Order.Status.FULFILLED
        assert attempts_of(order, "fulfillment.fulfill_order") == [(1, TaskAttempt.Outcome.SUCCEEDED, "")]
        assert attempts_of(order, "fulfillment.send_order_email") == [(1, TaskAttempt.Outcome.SUCCEEDED, "")]

    def test_unverified_sender_is_not_retried(self, client, product):
        faults_set(enabled=[UNVERIFIED_SENDER])

        order = place_order(client, product)

        # The delivery row records the rejection a moment before the task records its attempt.
        wait_for(
            lambda: EmailDelivery.objects.filter(order=order, status=EmailDelivery.Status.FAILED).exists()
            and TaskAttempt.objects.filter(order=order, outcome=TaskAttempt.Outcome.FAILED).exists(),
            message="the rejected email and its failed attempt",
        )
        order.refresh_from_db()
        assert order.status == Order.Status.FULFILLED
        delivery = EmailDelivery.objects.get(order=order)
        assert "MessageRejected" in delivery.error
        assert delivery.from_email == ""
        assert attempts_of(order, "fulfillment.send_order_email") == [(1, TaskAttempt.Outcome.FAILED, "AnymailAPIError")]
        status = client.get(f"/orders/{order.confirmation_id}/status/").json()
        assert status["email"]["status"] == "failed"
        assert status["final"] is True
        assert "could not send you an email" in status["message"]

    def test_staff_resend_after_fix(self, client, admin_client, product):
        faults_set(enabled=[UNVERIFIED_SENDER])
        order = place_order(client, product)
        wait_for(
            lambda: EmailDelivery.objects.filter(order=order, status=EmailDelivery.Status.FAILED).exists(),
            message="the rejected email",
        )
        faults_set(disabled=[UNVERIFIED_SENDER])
        delivery = EmailDelivery.objects.get(order=order)

        response = admin_client.post(
            "/admin/fulfillment/emaildelivery/", {"action": "resend", "_selected_action": [delivery.pk]}
        )

        assert response.status_code == 302
        wait_for(
            lambda: EmailDelivery.objects.get(pk=delivery.pk).status == EmailDelivery.Status.SENT,
            message="the resent email",
        )
        product.refresh_from_db()
        assert product.stock == 8

    def test_whole_task_retry_takes_stock_once(self, client, product):
        faults_set(enabled=[RETRY_WHOLE_TASK, UNVERIFIED_SENDER])

        order = place_order(client, product)

        wait_for(
            lambda: Order.objects.get(pk=order.pk).status == Order.Status.FULFILLMENT_FAILED,
            timeout=60,
            message="the retried order to fail",
        )
        assert [attempt for attempt, _, _ in attempts_of(order, "fulfillment.fulfill_order")] == [1, 2, 3]
        product.refresh_from_db()
        assert product.stock == 8
        assert StockReservation.objects.filter(order=order).count() == 1

    def test_rerun_fulfillment_from_admin(self, client, admin_client, product):
        faults_set(enabled=[RETRY_WHOLE_TASK, UNVERIFIED_SENDER])
        order = place_order(client, product)
        wait_for(
            lambda: Order.objects.get(pk=order.pk).status == Order.Status.FULFILLMENT_FAILED,
            timeout=60,
            message="the retried order to fail",
        )
        faults_set(disabled=list(FAULTS))

        response = admin_client.post(
            "/admin/orders/order/", {"action": "rerun_fulfillment", "_selected_action": [order.pk]}, follow=True
        )

        assert "fulfillment queued again" in response.content.decode()
        wait_for(
            lambda: EmailDelivery.objects.filter(order=order, status=EmailDelivery.Status.SENT).exists(),
            message="the email after the re-run",
        )
        order.refresh_from_db()
        assert order.status == Order.Status.FULFILLED
        product.refresh_from_db()
        assert product.stock == 8


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fulfillment_worker")
def test_rerun_after_repeat_stock_update_takes_stock_once(client, admin_client, product):
    faults_set(enabled=list(FAULTS))
    order = place_order(client, product)
    wait_for(
        lambda: Order.objects.get(pk=order.pk).status == Order.Status.FULFILLMENT_FAILED,
        timeout=60,
        message="the workshop order to fail",
    )
    faults_set(disabled=list(FAULTS))

    admin_client.post("/admin/orders/order/", {"action": "rerun_fulfillment", "_selected_action": [order.pk]})

    wait_for(
        lambda: EmailDelivery.objects.filter(order=order, status=EmailDelivery.Status.SENT).exists(),
        message="the email after the re-run",
    )
    product.refresh_from_db()
    assert product.stock == 8
    assert StockReservation.objects.filter(order=order).count() == 1
