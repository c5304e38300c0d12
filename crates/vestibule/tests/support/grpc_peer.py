"""A real gRPC server and client (grpcio, C core) for the end-to-end tests.

    grpc_peer.py serve NAME         # prints "port N", serves /echo.Echo/* on 127.0.0.1
    grpc_peer.py call TARGET METHOD PAYLOAD [TIMEOUT_SECONDS]

Messages are raw bytes (no protobuf): the generic handlers pass them as is.
`call` prints one line: code=<StatusCode name> details=<text> reply=<bytes>
trailers=<key=value,... of the x- trailers>.
"""

import sys
import time
from concurrent import futures

import grpc


def identity(data):
    return data


def serve(name):
    def unary(request, context):
        context.set_trailing_metadata((("x-served-by", name),))
        return request

    def stream(request, context):
        context.set_trailing_metadata((("x-served-by", name), ("x-count", request.decode())))
        for n in range(int(request.decode())):
            yield str(n).encode()

    def slow(request, context):
        time.sleep(3)
        return request

    def fail(request, context):
        context.abort(grpc.StatusCode.NOT_FOUND, "no such thing: " + request.decode())

    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary, identity, identity),
        "Stream": grpc.unary_stream_rpc_method_handler(stream, identity, identity),
        "Slow": grpc.unary_unary_rpc_method_handler(slow, identity, identity),
        "Fail": grpc.unary_unary_rpc_method_handler(fail, identity, identity),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("echo.Echo", handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"port {port}", flush=True)
    server.wait_for_termination()


def call(target, method, payload, timeout):
    channel = grpc.insecure_channel(target)
    path = f"/echo.Echo/{method}"
    try:
        if method == "Stream":
            rpc = channel.unary_stream(path, identity, identity)
            responses = rpc(payload.encode(), timeout=timeout)
            reply = b",".join(responses)
            trailers = responses.trailing_metadata()
            code, details = responses.code(), responses.details()
        else:
            rpc = channel.unary_unary(path, identity, identity)
            reply, state = rpc.with_call(payload.encode(), timeout=timeout)
            trailers = state.trailing_metadata()
            code, details = state.code(), state.details()
    except grpc.RpcError as error:
        reply, trailers = b"", error.trailing_metadata() or ()
        code, details = error.code(), error.details()
    # The application's own trailers: the gateway's `server`, `date` and
    # `x-envoy-upstream-service-time` sit in a trailers-only answer's
    # headers, which grpcio reports as trailers.
    pairs = ",".join(
        f"{k}={v}" for k, v in trailers if k.startswith("x-") and not k.startswith("x-envoy-")
    )
    print(f"code={code.name} details={details} reply={reply.decode()} trailers={pairs}", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 10.0
        call(sys.argv[2], sys.argv[3], sys.argv[4], timeout)
