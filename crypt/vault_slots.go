package crypt

import (
	"errors"
	"fmt"
	"io"
	"slices"
)

// SetPassphrase replaces the passphrase slot (or adds one if there is none)
// with one wrapping master under pass with kdf (zero: DefaultKDF), and
// renews the vault MAC. Data, the master key and other slots are untouched;
// write the vault back with Marshal. master must open the vault (checked
// with Verify, ErrAuth if not), so a wrong key can never lock users out.
func (v *Vault) SetPassphrase(rand io.Reader, master Key, pass []byte, kdf KDFParams) error {
	if kdf == (KDFParams{}) {
		kdf = DefaultKDF
	}
	if err := kdf.Validate(); err != nil {
		return err
	}
	if len(pass) == 0 {
		return errors.New("crypt: empty passphrase")
	}
	if err := v.Verify(master); err != nil {
		return err
	}
	s, err := v.newPassphraseSlot(rand, master, pass, kdf)
	if err != nil {
		return err
	}
	v.replaceSlot(master, s)
	return nil
}

// SetRecovery replaces the recovery slot (or adds one) with one for a fresh
// random recovery key, returned once, and renews the MAC. The old recovery
// key stops working once the new vault.json is written.
func (v *Vault) SetRecovery(rand io.Reader, master Key) (RecoveryKey, error) {
	if err := v.Verify(master); err != nil {
		return RecoveryKey{}, err
	}
	var rk RecoveryKey
	if err := readRand(rand, rk[:]); err != nil {
		return RecoveryKey{}, err
	}
	s, err := v.newRecoverySlot(rand, master, rk)
	if err != nil {
		return RecoveryKey{}, err
	}
	v.replaceSlot(master, s)
	return rk, nil
}

// RemoveSlot removes every slot of type typ and renews the MAC. It refuses
// to remove the last slot (the vault could never be opened again).
func (v *Vault) RemoveSlot(master Key, typ SlotType) error {
	if err := v.Verify(master); err != nil {
		return err
	}
	kept := slices.DeleteFunc(slices.Clone(v.slots), func(s slot) bool { return s.typ == typ })
	switch {
	case len(kept) == len(v.slots):
		return fmt.Errorf("crypt: remove %s slot: %w", typ, ErrNoSlot)
	case len(kept) == 0:
		return fmt.Errorf("crypt: refusing to remove the %s slot: it is the vault's last key slot", typ)
	}
	v.slots = kept
	v.mac = v.computeMAC(master)
	return nil
}

// replaceSlot puts s in place of the first slot of its type (dropping any
// others of that type) or appends it, then renews the MAC.
func (v *Vault) replaceSlot(master Key, s slot) {
	out := make([]slot, 0, len(v.slots)+1)
	placed := false
	for _, old := range v.slots {
		switch {
		case old.typ != s.typ:
			out = append(out, old)
		case !placed:
			out = append(out, s)
			placed = true
		}
	}
	if !placed {
		out = append(out, s)
	}
	v.slots = out
	v.mac = v.computeMAC(master)
}
