# Small pure functions the library needs; nixpkgs' lib is not assumed (these machines have none).
rec {
  toList = x: if builtins.isList x then x else [ x ];

  optionalAttrs = cond: attrs: if cond then attrs else { };

  # Drops the attributes whose value is null: strata's spec files reject nulls, and nixpkgs'
  # arguments use null for "not given".
  withoutNulls = attrs: builtins.removeAttrs attrs (builtins.filter (n: attrs.${n} == null) (builtins.attrNames attrs));

  toLower = builtins.replaceStrings
    [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ]
    [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ];

  # The 32-character hash part of a store path, without its string context: nixpkgs' default tag
  # when `tag` is null (of the conf derivation for streamed images, of the output for buildImage).
  hashPart = path: builtins.substring 0 32 (baseNameOf (builtins.unsafeDiscardStringContext (toString path)));

  # A store path's string as a derivation attribute would make it: path literals are copied into the
  # store (as nixpkgs' symlinkJoin and rsync see them), derivations become their output path.
  storeString = x: if builtins.isPath x then "${x}" else toString x;

  # What Nix makes of a derivation attribute's value in the builder's environment (nixpkgs'
  # streamNixShellImage does the same to put the inputs in the image's closure).
  envString = value:
    if builtins.isPath value then "${value}"
    else if builtins.isList value then toString (map envString value)
    else toString value;

  # Go's GOARCH for a Nix system: the image architecture nixpkgs writes by default.
  goArch = system:
    let
      cpu = builtins.head (builtins.split "-" system);
      known = {
        x86_64 = "amd64"; i686 = "386"; aarch64 = "arm64"; armv7l = "arm"; armv6l = "arm";
        riscv64 = "riscv64"; powerpc64le = "ppc64le"; s390x = "s390x"; mips64el = "mips64le"; loongarch64 = "loong64";
      };
    in known.${cpu} or (throw "strata: no GOARCH known for the system ${system}; give `architecture`");

  compressorExtension = name: compressor:
    let known = { none = ""; gz = ".gz"; zstd = ".zst"; };
    in known.${compressor} or (throw "in docker image ${name}: compressor must be one of: [gz none zstd] (given: ${toString compressor})");
}
