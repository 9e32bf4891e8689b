from orders_service.entrypoints.cli import app

app(prog_name="orders-service")
