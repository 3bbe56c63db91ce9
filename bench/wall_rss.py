"""`/usr/bin/time -o FILE -f "%e %M" CMD...` for machines without GNU time: runs CMD and writes its
wall seconds and peak RSS in KiB to FILE (bench/epoch.sh uses it as a fallback).
    /usr/bin/python3 bench/wall_rss.py FILE CMD..."""
import resource
import subprocess
import sys
import time

start = time.perf_counter()
rc = subprocess.call(sys.argv[2:])
wall = time.perf_counter() - start
# ru_maxrss of RUSAGE_CHILDREN is the largest of the waited-for children: CMD is the only one.
with open(sys.argv[1], "w") as f:
    f.write(f"{wall:.2f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}\n")
sys.exit(rc)
