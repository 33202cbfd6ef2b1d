/** `counter --help`: the commands, the options, the credentials and the exit codes. */
export const USAGE = `Usage: counter [options] <command> [arguments]

Commands:
  get NAME                show a counter
  inc NAME [BY]           add BY to a counter (default 1; negative subtracts)
  set NAME VALUE          set a counter to VALUE
  rm NAME                 delete a counter and its history
  ls [PREFIX]             list counters by name
  history NAME            a counter's changes, oldest first (--since, --until)
  series NAME             a counter's value over time as a chart, a bucket per --interval
  watch NAME              show a counter and its latest changes, refreshed until Ctrl-C
  console                 serve a web console on loopback and print its address (until Ctrl-C)
  export [PREFIX]         write counters with their history to stdout, as JSON Lines
  import [FILE]           recreate counters from an export (stdin when FILE is absent or -)

Options:
  --url URL               the API (default $COUNTER_URL, else http://127.0.0.1:3000)
  --region REGION         the region to sign for (default $AWS_REGION, else us-east-1)
  --json                  machine output: JSON, one document per line for ls and history
  --if-match VERSION      inc, set, rm: change only a counter at this version (0: only a new one)
  --shards N              set: create the counter spread over N items (2-32), for hot counters
  --min N, --max N        set: bound the counter (no change takes it past them; 409); none removes one
  --idempotency-key KEY   inc, set, rm: repeat the command with the same key and it applies once
  --salt TEXT             import: import afresh rather than resume an earlier run of the same file
  --interval I            series: minute, hour (the default) or day, in UTC
  --since TIME            history, series: from this instant on (ISO 8601 UTC: 2026-01-02T10:00:00Z)
  --until TIME            history, series: before this instant
  --every SECONDS         watch: how often to look again (default 2)
  --port PORT             console: the port on 127.0.0.1 (default 3001; 0 picks a free one)
  -h, --help              show this help

Through npm, add -s so npm's own banner stays off stdout: npm run -s counter -- get NAME --json

Credentials: COUNTER_ACCESS_KEY_ID, COUNTER_SECRET_ACCESS_KEY and COUNTER_SESSION_TOKEN when set,
else the AWS default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, SSO, ...).
The local server (npm start) takes local/local.

Exit codes: 0 done; 1 the API refused (404, 400, 409, 412, ...) or some counters failed to import;
2 usage error; 3 network or authorization failure (403, connection refused, no credentials).`;
