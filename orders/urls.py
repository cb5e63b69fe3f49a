from django.urls import path

from orders import views

app_name = "orders"

urlpatterns = [
    path("checkout/", views.checkout, name="checkout"),
    path("orders/<str:confirmation_id>/", views.order_detail, name="detail"),
    path("orders/<str:confirmation_id>/status/", views.order_status, name="status"),
    path("orders/<str:confirmation_id>/payment/complete/", views.payment_complete, name="payment_complete"),
    path("stripe/webhook/", views.stripe_webhook, name="stripe_webhook"),
]
