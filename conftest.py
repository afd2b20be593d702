"""Collection rules for the whole repository: xent.dask's doctests need Dask, an optional extra."""

from importlib.util import find_spec

collect_ignore = [] if find_spec("dask") is not None else ["xent/dask.py"]
