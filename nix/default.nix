# strata as nixpkgs' dockerTools: the same functions, arguments, defaults and outputs, built by strata.
#
#   dockerTools = import ./nix { };                       # no nixpkgs: builtins only
#   dockerTools = import ./nix { pkgs = import <nixpkgs> { }; };
#
# Every derivation here is built by node running nix/builder.mjs, which runs strata; the image's
# closure comes from exportReferencesGraph (structured attrs give it as JSON), so strata neither asks
# Nix nor scans. Without nixpkgs the builders use the host's node and, for scripts, /bin/sh and the
# host's tools (/usr/bin, /bin): that needs Nix's sandbox off, as it is on these machines. README.md
# ("Using strata from Nix") says what that means for purity.
{
  # nixpkgs, when there is one: node, the helpers' bash, coreutils, cacert and fakeNss, the tools
  # scripts run with (stdenv's, bash, fakeroot, proot) and the stream scripts' shell come from it
  # (what runs in the builder from buildPackages, what goes into images from pkgs, as nixpkgs does).
  pkgs ? null
  # Where the builders run.
, system ? (if pkgs != null then (pkgs.stdenv.buildPlatform or pkgs.stdenv.hostPlatform).system else builtins.currentSystem)
  # The node that runs strata: a package with bin/node, or the path of a node executable.
  # Default: pkgs.nodejs, else the first node on PATH (impure: a path outside the store).
, node ? (if pkgs != null then (pkgs.buildPackages or pkgs).nodejs else null)
  # strata: the @strata/cli package directory with its dependencies (dist/bin.js is the CLI).
  # Default: this checkout, built (pnpm install && pnpm build), imported with only what the CLI runs.
, strata ? import ./strata.nix { }
  # What binSh links /bin/sh to (bin/bash) and nix-shell images use as their shell (nixpkgs: bash).
, bash ? (if pkgs != null then pkgs.bash else null)
  # What usrBinEnv links /usr/bin/env to (bin/env; nixpkgs: coreutils).
, coreutils ? (if pkgs != null then pkgs.coreutils else null)
  # The CA bundle package of caCertificates and of nix-shell images (etc/ssl/certs/ca-bundle.crt;
  # nixpkgs: cacert). Default without nixpkgs: caCertificates imports the host's bundle.
, cacert ? (if pkgs != null then pkgs.cacert else null)
  # PATH of extraCommands, fakeRootCommands and the tools strata runs (bash, fakeroot, proot, qemu).
, toolPath ? null
  # The interpreter of stream scripts (nixpkgs: runtimeShell).
, shell ? (if pkgs != null then (pkgs.buildPackages or pkgs).runtimeShell else "/bin/sh")
}:
let
  lib = import ./lib.nix;

  binPath = packages: builtins.concatStringsSep ":" (map (p: "${p}/bin") packages);

  hostNode =
    let
      # Absolute entries only: a relative one (pnpm puts ./node_modules/.bin on PATH) names nothing
      # a builder could run.
      dirs = builtins.filter (d: builtins.isString d && builtins.substring 0 1 d == "/") (builtins.split ":" (builtins.getEnv "PATH"));
      found = builtins.filter (d: builtins.pathExists "${d}/node") (dirs ++ [ "/usr/local/bin" "/usr/bin" ]);
    in if found == [ ] then throw "strata: no node on PATH; give one: import ${toString ./.} { node = /path/to/bin/node; }" else "${builtins.head found}/node";

  nodeExe =
    if node == null then hostNode
    else if builtins.isAttrs node then "${node}/bin/node"
    else toString node;

  context = rec {
    inherit lib pkgs system bash coreutils cacert;
    # nixpkgs' default: the GOARCH of the platform the image is for.
    defaultArch = lib.goArch (if pkgs != null then pkgs.stdenv.hostPlatform.system else system);
    strataBin = "${strata}/dist/bin.js";
    tools =
      if toolPath != null then toolPath
      else if pkgs != null then
        let b = pkgs.buildPackages or pkgs;
        in binPath ((b.stdenv.initialPath or [ b.coreutils ]) ++ [ b.bash b.fakeroot b.proot ])
      else "/usr/bin:/bin";

    # A derivation built by nix/builder.mjs ACTION from structured attrs. Only the actions that run
    # strata name it (and the tools): a conf, a roots list or a helper stays the same derivation, with
    # the same default tag, when strata is rebuilt.
    run = action: attrs: derivation ({
      inherit system;
      builder = nodeExe;
      args = [ "${./builder.mjs}" action ];
      __structuredAttrs = true;
    } // (if action == "strata" || action == "script" then { strata = strataBin; node = nodeExe; toolPath = tools; inherit shell; } else { })
      // attrs);

    # A file (or tree) written by the builder: the helpers without nixpkgs, roots lists.
    write = name: entries: run "write" { inherit name entries; };

    # A file whose references are every store path `value` names (through its string context): the
    # root of the references graph Nix exports, nixpkgs' closure roots.
    closureRoots = name: value: write "${name}-closure-roots" [{ path = ""; text = builtins.toJSON value; }];

    # An executable that runs strata with `strataArgs` and its own arguments (stream-* commands).
    script = name: description: strataArgs: run "script" { inherit name description strataArgs; };

    # nixpkgs' stream-<name> result for a conf: the script that runs `command --spec conf/spec.json`,
    # with nixpkgs' passthru (imageTag: the conf's hash part unless `tag` is given).
    streamOf = { name, tag, conf, command, what }:
      let
        imageName = lib.toLower name;
        imageTag = if tag != null then tag else lib.hashPart conf;
        stream = script "stream-${baseNameOf name}" "streams ${what} ${imageName}:${imageTag} to stdout (a docker-archive), made by strata"
          [ command "--spec" "${conf}/spec.json" ];
      in
      stream // { inherit conf imageName imageTag; streamScript = stream; isExe = true; };

    # The image file of a stream's conf, compressed as a whole (nixpkgs: stream | compressor > $out).
    fileOf = { name, stream, command, compressor }:
      run "strata" {
        inherit name;
        strataArgs = [ command "--spec" "${stream.conf}/spec.json" "--compressor" compressor "-o" (builtins.placeholder "out") ];
      } // { inherit stream; inherit (stream) imageName imageTag conf; };
  };

  helpers = import ./helpers.nix context;
  layered = import ./layered.nix context;
  buildImage = import ./build-image.nix context;
  nixShell = import ./nix-shell.nix context;
  archives = import ./archives.nix context;
in
helpers // layered // buildImage // nixShell // archives
