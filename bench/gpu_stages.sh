# The stage machinery of the GPU checks (bench/gpu_check.sh, bench/gpu_check_rocm.sh), sourced by both.
# The caller sets LOG, STAGES (a JSON object being written) and DEADLINE (epoch seconds).

log() { echo "$@" | tee -a "$LOG"; }

# stage NAME TIMEOUT COMMAND...: run with a timeout (cut to the time left), log, record.
stage() {
  local name=$1 limit=$2; shift 2
  local now left rc t1
  if [ -n "${EMBER_GPU_CHECK_ONLY:-}" ] && [ "$name" != install ] && [ "$name" != env ]; then
    case " $EMBER_GPU_CHECK_ONLY " in
      *" $name "*|*" ${name%%_*} "*) ;;
      *) log "== $name: not selected (EMBER_GPU_CHECK_ONLY=$EMBER_GPU_CHECK_ONLY)"; return ;;
    esac
  fi
  now=$(date +%s); left=$((DEADLINE - now))
  if [ "$left" -lt 10 ]; then
    log "== $name: skipped, no time left"
    echo "\"$name\": {\"rc\": null, \"skipped\": \"no time left\"}," >> "$STAGES"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  log "== $name (timeout ${limit}s) $(date -u +%H:%M:%S)"
  timeout -k 5 "$limit" "$@" >> "$LOG" 2>&1
  rc=$?
  t1=$(date +%s)
  log "== $name: exit $rc after $((t1 - now))s"
  echo "\"$name\": {\"rc\": $rc, \"seconds\": $((t1 - now))}," >> "$STAGES"
}
