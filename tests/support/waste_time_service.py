"""The service of the original zeroG's docs/example.rst (tiptapinc/zerog), as it is there, with
the package's import name changed (`zerog` to `zeroG`) and its job class imported from
waste_time_jobs (zeroG's worker processes import job classes from their modules).

Three lines differ, each marked `# here:`: the example names a Couchbase cluster at the host
`couchbase` and beanstalkd at the host `beanstalkd`, which this machine has not, and listens
on 8888. The store and queue are the test's (the original's clients, zeroG.datastores.Datastore
being CouchbaseDatastore's base, on the test's store URL), and the port is the test's.
"""

# ruff: noqa: E402, I001 - the example's own code, kept as written
import os

from waste_time_jobs import WasteTimeJob

import tornado.ioloop
import zeroG

import logging

logging.basicConfig(
    level=logging.INFO,
    format="%(asctime)s - %(levelname)s - %(message)s - [%(process)s:%(name)s:%(funcName)s]",
)
log = logging.getLogger(__name__)


def make_datastore():
    return zeroG.datastores.Datastore(os.environ["EXAMPLE_STORE"])  # here: zeroG.CouchbaseDatastore(...)


def make_queue(queueName):
    return zeroG.BeanstalkdQueue("127.0.0.1", int(os.environ["EXAMPLE_BEANSTALKD_PORT"]), queueName)  # here


handlers = [
    (f"/job/{zeroG.JOB_TYPE_PATT}", zeroG.RunJobHandler),
    (f"/progress/{zeroG.UUID_PATT}", zeroG.ProgressHandler),
    (f"/info/{zeroG.UUID_PATT}", zeroG.InfoHandler),
    (f"/data/{zeroG.UUID_PATT}", zeroG.GetDataHandler),
]

server = zeroG.Server("myService", make_datastore, make_queue, [WasteTimeJob], handlers)
server.listen(int(os.environ["EXAMPLE_PORT"]))  # here: 8888
tornado.ioloop.IOLoop.current().start()
