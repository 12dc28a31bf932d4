"""The scripts here generate the stored reference values with packages that are not
dependencies of jaxmle (see each script's docstring); the test run does not import them."""

collect_ignore = ["make_life_references.py"]
