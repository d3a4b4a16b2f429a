#!/usr/bin/env bash
# Checks the direction of the library's layers (docs/architecture.md): every `crate::NAME` path in
# src/, in `use` lines, grouped imports (`use crate::{a, b::c}`, across lines too) and inline
# paths, must name a top-level module the file's layer may use. Comment lines are ignored (an
# intra-doc link is not a dependency). Prints FILE:LINE and the rule for each breach and exits 1;
# exits 0 with a one-line summary when the layers hold.
#
#   scripts/check-layers.sh [SRC_DIR]     (default: src/ of this repository)
set -euo pipefail
src="${1:-$(dirname "$0")/../src}"
[ -d "$src" ] || { echo "check-layers: no directory $src" >&2; exit 2; }

exec perl -e '
use strict; use warnings;
my $src = shift;
# layer => [allowed top-level modules or undef for "anything but", forbidden list, why]
my %only = (
  format    => [qw(format error)],
  util      => [qw(util format error)],
  error     => [qw(error)],
);
my %never = (
  container => [qw(trust pack receive report demo cli)],
  trust     => [qw(pack receive report demo cli)],
  pack      => [qw(receive report demo cli)],
  receive   => [qw(pack report demo cli)],
  report    => [qw(demo cli)],
);
my $why = {
  format    => "format/ is bytes and validated types only: it may use crate::format and crate::error",
  util      => "util/ is machinery every layer uses: it may use only crate::util, crate::format and crate::error",
  error     => "error.rs is the bottom of the library: it may use nothing else of the crate",
  container => "container/ yields unverified manifests: it never uses trust, pack, receive, report (or the binary)",
  trust     => "trust/ is used by the consumers, never the other way round",
  pack      => "pack/ (low side) and receive/ (high side) are independent consumers; only report/ renders both",
  receive   => "pack/ (low side) and receive/ (high side) are independent consumers; only report/ renders both",
  report    => "report/ renders for the binary and never uses it",
};
my ($bad, $files, $refs) = (0, 0, 0);
open(my $find, "-|", "find", $src, "-name", "*.rs") or die "find: $!";
my @files = sort map { chomp; $_ } <$find>;
for my $file (@files) {
  (my $rel = $file) =~ s{^\Q$src\E/?}{};
  my $layer = $rel =~ m{^([a-z_]+)/} ? $1 : ($rel =~ m{^([a-z_]+)\.rs$} ? $1 : next);
  next if $layer eq "lib" || $layer eq "main" || $layer eq "cli";
  $files++;
  open(my $fh, "<", $file) or die "$file: $!";
  my @lines = <$fh>;
  # Blank out comment lines, keeping line numbers.
  s{^\s*//.*}{} for @lines;
  my $text = join("", @lines);
  my @uses;  # [module, offset]
  while ($text =~ /\bcrate::(\{|[a-z_]+)/g) {
    my ($what, $at) = ($1, $-[1]);
    if ($what ne "{") { push @uses, [$what, $at]; next; }
    # A group: the first identifier of each top-level item.
    my ($depth, $expect) = (0, 1);
    my $i = $at + 1;
    while ($i < length $text) {
      my $c = substr($text, $i, 1);
      if ($c eq "{") { $depth++; }
      elsif ($c eq "}") { last if $depth == 0; $depth--; }
      elsif ($c eq "," && $depth == 0) { $expect = 1; }
      elsif ($expect && $depth == 0 && substr($text, $i) =~ /^([a-z_][a-z0-9_]*)/) {
        push @uses, [$1, $i]; $expect = 0; $i += length($1) - 1;
      }
      $i++;
    }
  }
  while ($text =~ /\bsuper::super::/g) {
    my $line = 1 + (substr($text, 0, $-[0]) =~ tr/\n//);
    print "$src/$rel:$line: `super::super::` hides which layer is used; write the crate:: path\n";
    $bad++;
  }
  for my $u (@uses) {
    my ($module, $at) = @$u;
    next if $module eq "self";
    $refs++;
    my $allowed = $only{$layer} ? (grep { $_ eq $module } @{$only{$layer}}) > 0
                : $never{$layer} ? !(grep { $_ eq $module } @{$never{$layer}})
                : 1;
    next if $allowed;
    my $line = 1 + (substr($text, 0, $at) =~ tr/\n//);
    print "$src/$rel:$line: $layer/ uses crate::$module: $why->{$layer}\n";
    $bad++;
  }
}
if ($bad) {
  print "check-layers: $bad breach(es) of the layer rules (docs/architecture.md)\n";
  exit 1;
}
print "check-layers: $files files, $refs crate:: references, layers hold\n";
' "$src"
