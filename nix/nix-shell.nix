# nixpkgs' streamNixShellImage and buildNixShellImage, built by strata (stream-nix-shell,
# build-nix-shell), which reads the derivation's .drv file itself.
#
# The conf derivation takes the derivation's attributes as nixpkgs' image does (their string
# context), so Nix builds the inputs first, and lists them in $out/inputs so they stay alive with
# the image. strata finds their closure by scanning them: its nix-shell images take no references
# graph yet.
{ lib, bash, coreutils, cacert, streamOf, fileOf, ... }@context:
let
  build = context.run;

  defaultShell =
    if bash != null then "${bash}/bin/bash"
    else throw "streamNixShellImage: give `shell` (a bash in the store that runs in a container), or the library a bash: import strata's nix/ with { bash = ...; } (nixpkgs uses pkgs.bash's bin/bash)";

  streamNixShellImage =
    { drv
    , name ? drv.name + "-env"
    , tag ? null
    , uid ? 1000
    , gid ? 1000
    , homeDirectory ? "/build"
    , shell ? defaultShell
    , command ? null
    , run ? null
    }:
    assert !(drv.drvAttrs.__structuredAttrs or false)
      || throw "streamNixShellImage: the derivation ${drv.name} uses __structuredAttrs, which nix-shell images do not support";
    assert command == null || run == null || throw "streamNixShellImage: give command or run, not both";
    let
      inputs = builtins.filter builtins.hasContext (map lib.envString (builtins.attrValues drv.drvAttrs));
      spec = lib.withoutNulls {
        # The .drv file, without building the derivation itself: its outputs are built in the container.
        drv = builtins.unsafeDiscardOutputDependency drv.drvPath;
        inherit name tag uid gid homeDirectory command run;
        shell = lib.storeString shell;
        cacert = if cacert != null then lib.storeString cacert else null;
        usrBinEnv = if coreutils != null then "${coreutils}/bin/env" else null;
        closureSource = "scan";
      };
      conf = build "conf" { name = "${baseNameOf name}-conf"; inherit spec; tagFromOutput = tag == null; keep = inputs; };
    in
    streamOf { inherit name tag conf; command = "stream-nix-shell"; what = "a nix-shell image of ${drv.name} as"; };

  buildNixShellImage = { drv, compressor ? "gz", ... }@args:
    fileOf {
      name = "${drv.name}-env.tar${lib.compressorExtension (args.name or (drv.name + "-env")) compressor}";
      stream = streamNixShellImage (builtins.removeAttrs args [ "compressor" ]);
      command = "build-nix-shell";
      inherit compressor;
    };
in
{
  inherit streamNixShellImage buildNixShellImage;
}
