# Sourced by the benchmark scripts.
# step NAME COMMAND...: runs COMMAND under bench/measure.py; its stdout goes to LOGS/NAME.out,
# stderr to LOGS/NAME.err, wall/CPU/RSS to LOGS/NAME.measure.json. A failure prints the end of
# its stderr and stops the script.
step() {
    local name=$1
    shift
    echo "  $name" >&2
    if ! python3 bench/measure.py "$LOGS/$name.measure.json" "$@" \
            > "$LOGS/$name.out" 2> "$LOGS/$name.err"; then
        tail -n 20 "$LOGS/$name.err" >&2
        echo "error: $name failed (output in $LOGS/$name.out and $LOGS/$name.err)" >&2
        exit 1
    fi
}
