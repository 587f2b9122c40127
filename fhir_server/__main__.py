"""Allow ``python -m fhir_server`` as an alias of the ``fhir-server`` command."""

from fhir_server.cli import main

if __name__ == "__main__":
    main(prog_name="fhir-server")
