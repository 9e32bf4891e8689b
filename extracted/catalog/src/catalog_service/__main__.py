from catalog_service.entrypoints.cli import app

app(prog_name="catalog-service")
