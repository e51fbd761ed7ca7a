"""A TCP forwarder the tests can cut and restore, to play a database outage for one server."""
import socket
import threading


class TcpProxy:
    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        self.port = None
        self.listener = None
        self.connections = []
        self.lock = threading.Lock()
        self.restore()

    def restore(self):
        """Accepts connections (again) on the same port."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port or 0))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self):
        """Refuses new connections and drops every open one, as a server going away would."""
        listener, self.listener = self.listener, None
        # shutdown() wakes the thread blocked in accept(); close() alone would leave the socket
        # listening until then, and the port could not be bound again.
        try:
            listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        listener.close()
        with self.lock:
            connections, self.connections = self.connections, []
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.connections += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pump(source, destination):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                destination.sendall(data)
        except OSError:
            pass
        for s in (source, destination):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def proxied_mongodb_uri(uri, port, database, **options):
    """`uri` pointed at the proxy on `port` (credentials and options kept), for `database`, as a
    direct connection (a replica set member would otherwise be reached by its advertised name)."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(uri)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (userinfo + "@" if userinfo else "") + f"127.0.0.1:{port}"
    query = dict(parse_qsl(parts.query))
    query.pop("replicaSet", None)
    query.update({"directConnection": "true", **{k: str(v) for k, v in options.items()}})
    return urlunsplit(("mongodb", netloc, "/" + database, urlencode(query), ""))


def mongodb_target(uri):
    """The first host and port of a `mongodb://` URI."""
    from urllib.parse import urlsplit

    hosts = urlsplit(uri).netloc.rpartition("@")[2].split(",")[0]
    host, _, port = hosts.partition(":")
    return host, int(port or 27017)
