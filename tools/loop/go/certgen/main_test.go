package main

import (
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"
)

func TestIssueMakesAServingCertificateTheCAVerifiesForEveryHost(t *testing.T) {
	hosts := splitHosts("svc, svc.monitoring.svc,,10.0.0.1")
	if len(hosts) != 3 {
		t.Fatalf("splitHosts: %q", hosts)
	}
	now := time.Now()
	caPEM, certPEM, keyPEM, err := issue(hosts, now)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("the CA is not PEM")
	}
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range hosts {
		opts := x509.VerifyOptions{DNSName: host, Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		if _, err := cert.Verify(opts); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: "other", Roots: pool}); err == nil {
		t.Error("verified for a host it was not issued for")
	}
	if key, _ := pem.Decode(keyPEM); key == nil || key.Type != "EC PRIVATE KEY" {
		t.Error("the key is not an EC private key in PEM")
	}
}
