__version__ = "0.1.0.dev0"

#: The distribution's name on the package index (``pip install pulse-messaging``). The import
#: packages stay ``pulse_async`` and ``pulse_sync``. ``pulse-sdk`` on PyPI is another vendor's
#: library; ``make check-name`` re-checks this name before a release.
DISTRIBUTION = "pulse-messaging"
