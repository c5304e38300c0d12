"""Opens N keep-alive connections, makes one request on each, and holds them
idle until stdin closes (or a time limit). Prints one JSON line when all are
open and idle, and one more when asked to finish (how many were still open).

    python3 idle_conns.py PORT HOST PATH COUNT [HOLD_LIMIT_S]
"""

import asyncio
import json
import resource
import sys


async def one(port, request, sem, conns, failures):
    async with sem:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port), timeout=10
            )
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            status = int(head.split(b" ", 2)[1])
            lower = head.lower()
            if b"content-length:" in lower:
                length = int(lower.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
                await asyncio.wait_for(reader.readexactly(length), timeout=10)
            elif b"transfer-encoding: chunked" in lower:
                await asyncio.wait_for(reader.readuntil(b"0\r\n\r\n"), timeout=10)
            if status != 200:
                failures.append(f"status {status}")
            conns.append((reader, writer))
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as error:
            failures.append(repr(error))


async def main():
    port, host, path, count = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    hold_limit = float(sys.argv[5]) if len(sys.argv) > 5 else 120
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    conns, failures = [], []
    # Few at a time: each request may need an upstream connection, and the
    # upstream pool should stay small so that it is not what gets measured.
    sem = asyncio.Semaphore(32)
    await asyncio.gather(*(one(port, request, sem, conns, failures) for _ in range(count)))
    print(json.dumps({"open": len(conns), "failed": len(failures), "errors": failures[:5]}), flush=True)
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), timeout=hold_limit)
    except asyncio.TimeoutError:
        pass
    await asyncio.sleep(0)
    still_open = sum(1 for reader, _ in conns if not reader.at_eof())
    print(json.dumps({"still_open": still_open}), flush=True)
    for _, writer in conns:
        writer.close()


if __name__ == "__main__":
    asyncio.run(main())
