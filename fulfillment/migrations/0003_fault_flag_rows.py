from django.db import migrations

FAULT_NAMES = ["confirm_before_fulfillment", "unverified_sender", "retry_whole_task", "repeat_stock_update"]


def create_flags(apps, schema_editor):
    # One row per fault, all off, so staff can switch them in the admin.
    FaultFlag = apps.get_model("fulfillment", "FaultFlag")
    for name in FAULT_NAMES:
        FaultFlag.objects.get_or_create(name=name, defaults={"enabled": False})


class Migration(migrations.Migration):
    dependencies = [("fulfillment", "0002_fault_flags_and_attempts")]

    operations = [migrations.RunPython(create_flags, migrations.RunPython.noop)]
