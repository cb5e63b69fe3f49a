"""Stock edits in the admin keep the sales made while the page was open."""
import pytest

from shop.models import Product


def change_form_data(product: Product, **overrides) -> dict:
    data = {
        "name": product.name,
        "slug": product.slug,
        "sku": product.sku,
        "description": product.description,
        "image": product.image,
        "price": product.price,
        "currency": product.currency,
        "stock": product.stock,
        "stock_seen": product.stock,
    }
    data.update(overrides)
    return data


@pytest.mark.django_db
def test_description_edit_keeps_concurrent_sale(admin_client, product):
    data = change_form_data(product, description="Now dishwasher safe.")
    Product.objects.filter(pk=product.pk).update(stock=9)  # a sale while the page is open

    response = admin_client.post(f"/admin/shop/product/{product.pk}/change/", data)

    assert response.status_code == 302
    product.refresh_from_db()
    assert product.description == "Now dishwasher safe."
    assert product.stock == 9


@pytest.mark.django_db
def test_stock_edit_applies_difference(admin_client, product):
    data = change_form_data(product, stock=15)
    Product.objects.filter(pk=product.pk).update(stock=9)

    admin_client.post(f"/admin/shop/product/{product.pk}/change/", data)

    product.refresh_from_db()
    assert product.stock == 14


@pytest.mark.django_db
def test_negative_stock_is_rejected(admin_client, product):
    response = admin_client.post(f"/admin/shop/product/{product.pk}/change/", change_form_data(product, stock=-1))

    assert response.status_code == 200
    assert "Stock cannot be negative. Enter 0 or more units." in response.content.decode()


@pytest.mark.django_db
def test_list_save_keeps_other_rows_sales(admin_client, product_factory):
    teapot = product_factory(name="Glass Teapot", stock=19)
    grinder = product_factory(name="Hand Burr Grinder", stock=5)
    rows = list(Product.objects.order_by("name"))
    data = {"form-TOTAL_FORMS": str(len(rows)), "form-INITIAL_FORMS": str(len(rows)), "_save": "Save"}
    for index, row in enumerate(rows):
        data[f"form-{index}-id"] = str(row.pk)
        data[f"form-{index}-stock"] = str(row.stock + (3 if row.pk == grinder.pk else 0))
        data[f"form-{index}-stock_seen"] = str(row.stock)
    Product.objects.filter(pk=teapot.pk).update(stock=18)  # a sale while the list is open

    response = admin_client.post("/admin/shop/product/", data)

    assert response.status_code == 302
    teapot.refresh_from_db()
    grinder.refresh_from_db()
    assert teapot.stock == 18
    assert grinder.stock == 8
