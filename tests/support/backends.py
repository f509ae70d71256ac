"""Which optional backends the tests may use: a Couchbase cluster, when ZEROG_TEST_COUCHBASE
names one, and the reason a test that needs one gives when it skips."""

COUCHBASE_ENV = "ZEROG_TEST_COUCHBASE"
NO_COUCHBASE = "needs a Couchbase cluster: set ZEROG_TEST_COUCHBASE=couchbase://user:password@host/bucket"
