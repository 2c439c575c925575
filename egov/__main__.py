from egov.cli import app

app(prog_name="egov")
