"""The transport layer below the asynchronous adapters.

``nbio_interface`` declares the I/O services a connection needs; ``selector_ioloop_adapter`` and
``asyncio_io_services`` implement them; ``io_services_utils`` holds the socket connector and the
streaming transports; ``connection_workflow`` brings a connection up over several endpoints.
"""
