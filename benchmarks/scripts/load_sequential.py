# Streams N SETs of 1 KiB values with sequential keys as RESP, to stdout (for redis-cli --pipe).
import sys
n = int(sys.argv[1]); size = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
out = sys.stdout.buffer
val = b"v" * size
chunk = []
for i in range(n):
    k = b"key:%09d" % i
    chunk.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, size, val))
    if len(chunk) == 1000:
        out.write(b"".join(chunk)); chunk = []
out.write(b"".join(chunk))
