"""The worker's PostgreSQL adapters of the domain's ports: each unit of work one function call.

Each call runs on a pooled connection in autocommit mode (``db.engine.call_function``): the
function's statement is its own transaction, so there is no ``BEGIN``, tenant setting or
``COMMIT`` round trip around it, and no ORM object is built, nor SQLAlchemy's ``Result``. The
functions (the migrations' ``switchboard_*``) switch to the application role and set the
tenant themselves, so row-level security holds. The domain keeps the portable ORM adapters;
``switchboard.worker.bootstrap`` picks one or the other.
"""
