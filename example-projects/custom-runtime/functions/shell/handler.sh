# The function: prints the response for the event given as $1.
handle() {
  printf '{"message": "hello from sh", "bytes": %s}\n' "$(printf '%s' "$1" | wc -c | tr -d ' ')"
}
