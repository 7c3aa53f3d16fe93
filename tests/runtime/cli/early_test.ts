import assert from "node:assert/strict";
import { earlyInitWanted } from "../../../runtime/cli/early.ts";

Deno.test("earlyInitWanted: a plain foreground run, with global options and run options; OCI create", () => {
  for (
    const argv of [
      ["run", "alpine", "true"],
      ["--root", "/tmp/x", "run", "--network", "none", "alpine", "/bin/true"],
      [
        "--root=/tmp/x",
        "--debug",
        "run",
        "--rm",
        "-e",
        "A=1",
        "-w",
        "/tmp",
        "-v",
        "/a:/b:ro",
        "alpine",
        "sh",
      ],
      ["--log", "/tmp/log", "--log-format", "json", "run", "-i", "-p", "8080:80", "--name", "web", "alpine"],
      ["run", "--network", "host", "--init", "-m", "64m", "-h", "box", "alpine", "echo", "hi"],
      // OCI create as podman's conmon and containerd's shim call it, without a terminal.
      [
        "--root",
        "/run/x",
        "--log",
        "/l",
        "--log-format",
        "json",
        "--systemd-cgroup",
        "create",
        "--bundle",
        "/b",
        "id",
      ],
      ["create", "--bundle", "/b", "--pid-file", "/p", "--preserve-fds", "2", "--no-pivot", "id"],
    ]
  ) {
    assert.equal(earlyInitWanted(argv), true, argv.join(" "));
  }
});

Deno.test("earlyInitWanted: not for other verbs, detached, terminals, shared PID namespaces, --explain, OCI run, create with a console", () => {
  for (
    const argv of [
      [],
      ["version"],
      ["ps", "-a"],
      ["exec", "web", "true"],
      ["create", "--bundle", "/b", "--console-socket", "/s", "id"],
      ["create", "--console-socket=/s", "id"],
      ["create", "--explain", "--bundle", "/b", "id"],
      ["start", "id"],
      ["--root", "run", "ps"], // "run" is --root's value: the verb is ps
      ["run", "-d", "alpine", "sleep", "9"],
      ["run", "--detach", "alpine"],
      ["run", "-t", "alpine"],
      ["run", "-it", "alpine", "sh"],
      ["run", "-dit", "alpine", "sh"],
      ["run", "--tty", "alpine"],
      ["run", "--pid", "host", "alpine", "ps"],
      ["run", "--pid=container:web", "alpine", "ps"],
      ["run", "--network", "container:web", "alpine", "true"],
      ["run", "--ipc", "container:web", "alpine", "true"],
      ["run", "--explain", "alpine", "true"],
      ["run", "--explain=/tmp/e", "alpine", "true"],
      ["run", "--bundle", "/b", "id"],
      ["run", "-b", "/b", "id"],
      ["run", "--help"],
      ["run", "alpine", "ls", "-t"], // the command's own words count too: only slower
    ]
  ) {
    assert.equal(earlyInitWanted(argv), false, argv.join(" "));
  }
});
