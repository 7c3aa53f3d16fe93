import assert from "node:assert/strict";
import {
  ContainerFileError,
  fdPath,
  mkdirAllInRoot,
  mountTargetInRoot,
  readFileInRoot,
  withRoot,
} from "../../runtime/inroot.ts";
import { ConfigError } from "../../runtime/errors.ts";
import { fsCalls } from "../../runtime/syscalls.ts";

/** Where a descriptor points, closing it. */
function where(fd: number): string {
  try {
    return Deno.readLinkSync(fdPath(fd));
  } finally {
    fsCalls.close(fd);
  }
}

function tree(): string {
  const root = Deno.makeTempDirSync({ prefix: "tinyo-inroot-" });
  Deno.mkdirSync(`${root}/a/b`, { recursive: true });
  Deno.symlinkSync("/etc", `${root}/abs`);
  Deno.symlinkSync("../../../..", `${root}/a/b/up`);
  Deno.symlinkSync("b", `${root}/a/rel`);
  Deno.symlinkSync("/nowhere/deep", `${root}/dangling`);
  return root;
}

Deno.test("mkdirAllInRoot() keeps .. and every symlink, dangling ones too, inside the root", () => {
  const root = tree();
  try {
    withRoot(root, (r) => {
      assert.equal(where(mkdirAllInRoot(r, "/../../x")), `${root}/x`);
      assert.equal(where(mkdirAllInRoot(r, "/abs/sub")), `${root}/etc/sub`);
      assert.equal(where(mkdirAllInRoot(r, "a/b/up/y")), `${root}/y`);
      assert.equal(where(mkdirAllInRoot(r, "/a/rel/c")), `${root}/a/b/c`);
      // A dangling absolute link is created where it points, in the root.
      assert.equal(where(mkdirAllInRoot(r, "/dangling/z")), `${root}/nowhere/deep/z`);
      assert.equal(where(mkdirAllInRoot(r, "/")), root);
    });
    assert.throws(() => Deno.statSync("/nowhere"), "nothing was made on the host");
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("mkdirAllInRoot() refuses loops and files in the way", () => {
  const root = tree();
  try {
    Deno.symlinkSync("loop2", `${root}/loop1`);
    Deno.symlinkSync("loop1", `${root}/loop2`);
    Deno.writeTextFileSync(`${root}/file`, "");
    withRoot(root, (r) => {
      assert.throws(
        () => mkdirAllInRoot(r, "/loop1/x"),
        (e: unknown) => e instanceof ConfigError && /too many symlinks/.test(e.message),
      );
      assert.throws(
        () => mkdirAllInRoot(r, "/file/x"),
        (e: unknown) => e instanceof ConfigError && /"\/file" is not a directory/.test(e.message),
      );
    });
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("mountTargetInRoot() creates directories and files, and follows dangling links inside", () => {
  const root = tree();
  try {
    withRoot(root, (r) => {
      assert.equal(where(mountTargetInRoot(r, "/x/y")), `${root}/x/y`);
      assert.ok(Deno.statSync(`${root}/x/y`).isDirectory);
      assert.equal(where(mountTargetInRoot(r, "/etc/hosts", { file: true })), `${root}/etc/hosts`);
      assert.ok(Deno.statSync(`${root}/etc/hosts`).isFile);
      assert.equal(where(mountTargetInRoot(r, "/dangling")), `${root}/nowhere/deep`);
      assert.throws(
        () => mountTargetInRoot(r, "/abs/proc", { noSymlinks: true }),
        (e: unknown) => e instanceof ConfigError && /goes through a symlink/.test(e.message),
      );
    });
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("readFileInRoot() reads only small regular files inside the root", () => {
  const root = tree();
  try {
    Deno.mkdirSync(`${root}/etc`);
    Deno.writeTextFileSync(`${root}/etc/passwd`, "root:x:0:0::/root:/bin/sh\n");
    Deno.writeTextFileSync(`${root}/big`, "x".repeat(2000));
    new Deno.Command("mkfifo", { args: [`${root}/fifo`] }).outputSync();
    Deno.symlinkSync("/etc/passwd", `${root}/link-in`);
    withRoot(root, (r) => {
      assert.equal(readFileInRoot(r, "/etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
      assert.equal(readFileInRoot(r, "/missing"), undefined);
      // A FIFO would block a blocking read forever: refused at once.
      assert.throws(
        () => readFileInRoot(r, "/fifo"),
        (e: unknown) => e instanceof ContainerFileError && /not a regular file/.test(e.message),
      );
      assert.throws(() => readFileInRoot(r, "/big", 1000), ContainerFileError);
      // A final symlink is not followed at all (O_NOFOLLOW), in or out.
      assert.throws(() => readFileInRoot(r, "/link-in"), ContainerFileError);
      // Parents may be links, resolved inside: /abs -> /etc of the root.
      assert.equal(readFileInRoot(r, "/abs/passwd"), "root:x:0:0::/root:/bin/sh\n");
    });
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("readFileInRoot() opens nothing but a regular file (a planted node is only looked at)", async () => {
  const root = Deno.makeTempDirSync({ prefix: "tinyo-inroot-" });
  try {
    new Deno.Command("mkfifo", { args: [`${root}/passwd`] }).outputSync();
    // A writer blocks in open(2) until someone opens the FIFO for reading:
    // if readFileInRoot opened the node, the writer would get through.
    const writer = new Deno.Command("sh", {
      args: ["-c", `echo x > ${root}/passwd && echo writer-got-through`],
      stdout: "piped",
    }).spawn();
    withRoot(root, (r) => assert.throws(() => readFileInRoot(r, "/passwd"), /not a regular file/));
    const raced = await Promise.race([
      writer.output().then((o) => new TextDecoder().decode(o.stdout)),
      new Promise<string>((res) => setTimeout(() => res("blocked"), 500)),
    ]);
    assert.equal(raced, "blocked", "the FIFO was opened");
    writer.kill("SIGKILL");
    await writer.status;
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
