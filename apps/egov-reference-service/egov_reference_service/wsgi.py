"""WSGI entry point: gunicorn egov_reference_service.wsgi:app (config from
$EGOV_SERVICE_CONFIG)."""

import logging
import sys

from egov_reference_service.app import create_app

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(name)s %(levelname)s %(message)s")
app = create_app()
