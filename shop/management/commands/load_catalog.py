from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from shop.catalog import CATALOG_PATH, CatalogError, catalog_read
from shop.services import catalog_load


class Command(BaseCommand):
    help = (
        "Create or update the demo products from a catalog file, matched by SKU. "
        "The stock of existing products is kept unless --reset-stock is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset-stock",
            action="store_true",
            help="Also set the stock of existing products to the level in the catalog file.",
        )
        parser.add_argument(
            "--missing-only",
            action="store_true",
            help="Only create products that do not exist yet; leave existing ones, and staff edits, alone.",
        )
        parser.add_argument(
            "--file",
            type=Path,
            default=CATALOG_PATH,
            help=f"Catalog file to load, a JSON list of products (default: {CATALOG_PATH}).",
        )

    def handle(self, *args, reset_stock: bool, missing_only: bool, file: Path, **options) -> None:
        if reset_stock and missing_only:
            raise CommandError("--reset-stock and --missing-only cannot be used together.")
        try:
            entries = catalog_read(path=file)
            result = catalog_load(entries=entries, reset_stock=reset_stock, missing_only=missing_only)
        except CatalogError as error:
            raise CommandError(str(error)) from None

        names = {entry.sku: entry.name for entry in entries}
        for sku in result.created:
            self.stdout.write(f"Created {sku} {names[sku]}")
        for sku in result.updated:
            self.stdout.write(f"Updated {sku} {names[sku]}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Catalog loaded: {len(result.created)} created, {len(result.updated)} updated, "
                f"{len(result.unchanged)} unchanged."
            )
        )
