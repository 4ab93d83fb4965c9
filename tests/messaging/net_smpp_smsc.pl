#!/usr/bin/perl
# An SMSC on Net::SMPP (Debian libnet-smpp-perl), a second SMPP 3.4 implementation: smpp34's
# Python server accepts every bind, this one checks the credentials the way an operator's SMSC
# does, so the sender's handling of a refused bind (ESME_RINVPASWD) meets a real refusal.
#
# Usage: net_smpp_smsc.pl PORT SYSTEM_ID PASSWORD
# Prints "ready PORT" when listening; serves one connection at a time until killed. Binds with
# the right system_id and password get ESME_ROK, others ESME_RINVSYSID / ESME_RINVPASWD;
# submit_sm gets a message id "np<n>"; enquire_link and unbind are answered.
use strict;
use warnings;
use Net::SMPP;

my ($port, $system_id, $password) = @ARGV;
die "usage: $0 PORT SYSTEM_ID PASSWORD\n" unless defined $password;
$| = 1;
my $listen = Net::SMPP->new_listen('127.0.0.1', port => $port, smpp_version => 0x34)
    or die "cannot listen on $port: $!\n";
print "ready $port\n";
my $next_id = 0;

sub bind_status {
    my ($pdu) = @_;
    return 0x0F if $pdu->{system_id} ne $system_id;   # ESME_RINVSYSID
    return 0x0E if $pdu->{password} ne $password;     # ESME_RINVPASWD
    return 0;
}

while (my $smpp = $listen->accept) {
    while (defined(my $pdu = $smpp->read_pdu())) {
        my $cmd = $pdu->{cmd};
        if ($cmd == 0x00000009 || $cmd == 0x00000002 || $cmd == 0x00000001) {
            my $status = bind_status($pdu);
            my %args = (system_id => 'NETSMPP', seq => $pdu->{seq}, status => $status);
            if ($cmd == 0x00000009) { $smpp->bind_transceiver_resp(%args) }
            elsif ($cmd == 0x00000002) { $smpp->bind_transmitter_resp(%args) }
            else { $smpp->bind_receiver_resp(%args) }
            last if $status;
        } elsif ($cmd == 0x00000004) {
            $next_id++;
            $smpp->submit_sm_resp(message_id => "np$next_id", seq => $pdu->{seq});
        } elsif ($cmd == 0x00000015) {
            $smpp->enquire_link_resp(seq => $pdu->{seq});
        } elsif ($cmd == 0x00000006) {
            $smpp->unbind_resp(seq => $pdu->{seq});
            last;
        }
    }
    close $smpp;
}
