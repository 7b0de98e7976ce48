// Code generated via abigen V2 - DO NOT EDIT.
// This file is a generated binding and any manual changes will be lost.

package contract

import (
	"bytes"
	"errors"
	"math/big"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
)

// Reference imports to suppress errors if they are not otherwise used.
var (
	_ = bytes.Equal
	_ = errors.New
	_ = big.NewInt
	_ = common.Big1
	_ = types.BloomLookup
	_ = abi.ConvertType
)

// ChannelsMetaData contains all meta data concerning the Channels contract.
var ChannelsMetaData = bind.MetaData{
	ABI: "[{\"inputs\":[{\"internalType\":\"uint64\",\"name\":\"challengePeriod_\",\"type\":\"uint64\"}],\"stateMutability\":\"nonpayable\",\"type\":\"constructor\"},{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"amount\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"deposit\",\"type\":\"uint256\"}],\"name\":\"AmountAboveDeposit\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"amount\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"claimed\",\"type\":\"uint256\"}],\"name\":\"AmountNotAboveClaimed\",\"type\":\"error\"},{\"inputs\":[],\"name\":\"BadSignature\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"bytes32\",\"name\":\"channel\",\"type\":\"bytes32\"},{\"internalType\":\"uint64\",\"name\":\"closeAt\",\"type\":\"uint64\"}],\"name\":\"ChallengeNotOver\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"bytes32\",\"name\":\"channel\",\"type\":\"bytes32\"},{\"internalType\":\"uint64\",\"name\":\"closeAt\",\"type\":\"uint64\"}],\"name\":\"ChallengeOver\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"bytes32\",\"name\":\"channel\",\"type\":\"bytes32\"},{\"internalType\":\"uint64\",\"name\":\"closeAt\",\"type\":\"uint64\"}],\"name\":\"ChannelClosing\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"bytes32\",\"name\":\"channel\",\"type\":\"bytes32\"}],\"name\":\"ChannelExists\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"bytes32\",\"name\":\"channel\",\"type\":\"bytes32\"}],\"name\":\"ChannelFinished\",\"type\":\"error\"},{\"inputs\":[],\"name\":\"DepositTooLarge\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"bytes32\",\"name\":\"channel\",\"type\":\"bytes32\"}],\"name\":\"NoChannel\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"bytes32\",\"name\":\"channel\",\"type\":\"bytes32\"}],\"name\":\"NotClosing\",\"type\":\"error\"},{\"inputs\":[],\"name\":\"TransferFailed\",\"type\":\"error\"},{\"inputs\":[],\"name\":\"ZeroDeposit\",\"type\":\"error\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"bytes32\",\"name\":\"channel\",\"type\":\"bytes32\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"amount\",\"type\":\"uint256\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"paid\",\"type\":\"uint256\"}],\"name\":\"Claimed\",\"type\":\"event\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"bytes32\",\"name\":\"channel\",\"type\":\"bytes32\"},{\"indexed\":false,\"internalType\":\"uint64\",\"name\":\"closeAt\",\"type\":\"uint64\"}],\"name\":\"CloseStarted\",\"type\":\"event\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"bytes32\",\"name\":\"channel\",\"type\":\"bytes32\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"claimed\",\"type\":\"uint256\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"refund\",\"type\":\"uint256\"}],\"name\":\"Closed\",\"type\":\"event\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"bytes32\",\"name\":\"channel\",\"type\":\"bytes32\"},{\"indexed\":true,\"internalType\":\"address\",\"name\":\"sender\",\"type\":\"address\"},{\"indexed\":true,\"internalType\":\"address\",\"name\":\"receiver\",\"type\":\"address\"},{\"indexed\":false,\"internalType\":\"uint64\",\"name\":\"nonce\",\"type\":\"uint64\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"deposit\",\"type\":\"uint256\"}],\"name\":\"Opened\",\"type\":\"event\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"bytes32\",\"name\":\"channel\",\"type\":\"bytes32\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"added\",\"type\":\"uint256\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"deposit\",\"type\":\"uint256\"}],\"name\":\"ToppedUp\",\"type\":\"event\"},{\"inputs\":[],\"name\":\"VOUCHER_TYPEHASH\",\"outputs\":[{\"internalType\":\"bytes32\",\"name\":\"\",\"type\":\"bytes32\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"challengePeriod\",\"outputs\":[{\"internalType\":\"uint64\",\"name\":\"\",\"type\":\"uint64\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"sender\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"receiver\",\"type\":\"address\"},{\"internalType\":\"uint64\",\"name\":\"nonce\",\"type\":\"uint64\"}],\"name\":\"channelId\",\"outputs\":[{\"internalType\":\"bytes32\",\"name\":\"\",\"type\":\"bytes32\"}],\"stateMutability\":\"pure\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"bytes32\",\"name\":\"\",\"type\":\"bytes32\"}],\"name\":\"channels\",\"outputs\":[{\"internalType\":\"uint96\",\"name\":\"deposit\",\"type\":\"uint96\"},{\"internalType\":\"uint96\",\"name\":\"claimed\",\"type\":\"uint96\"},{\"internalType\":\"uint64\",\"name\":\"closeAt\",\"type\":\"uint64\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"sender\",\"type\":\"address\"},{\"internalType\":\"uint64\",\"name\":\"nonce\",\"type\":\"uint64\"},{\"internalType\":\"uint256\",\"name\":\"amount\",\"type\":\"uint256\"},{\"internalType\":\"uint8\",\"name\":\"v\",\"type\":\"uint8\"},{\"internalType\":\"bytes32\",\"name\":\"r\",\"type\":\"bytes32\"},{\"internalType\":\"bytes32\",\"name\":\"s\",\"type\":\"bytes32\"}],\"name\":\"claim\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"domainSeparator\",\"outputs\":[{\"internalType\":\"bytes32\",\"name\":\"\",\"type\":\"bytes32\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"receiver\",\"type\":\"address\"},{\"internalType\":\"uint64\",\"name\":\"nonce\",\"type\":\"uint64\"}],\"name\":\"finishClose\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"receiver\",\"type\":\"address\"},{\"internalType\":\"uint64\",\"name\":\"nonce\",\"type\":\"uint64\"}],\"name\":\"open\",\"outputs\":[],\"stateMutability\":\"payable\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"receiver\",\"type\":\"address\"},{\"internalType\":\"uint64\",\"name\":\"nonce\",\"type\":\"uint64\"}],\"name\":\"startClose\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"receiver\",\"type\":\"address\"},{\"internalType\":\"uint64\",\"name\":\"nonce\",\"type\":\"uint64\"}],\"name\":\"topUp\",\"outputs\":[],\"stateMutability\":\"payable\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"bytes32\",\"name\":\"channel\",\"type\":\"bytes32\"},{\"internalType\":\"address\",\"name\":\"receiver\",\"type\":\"address\"},{\"internalType\":\"uint256\",\"name\":\"amount\",\"type\":\"uint256\"}],\"name\":\"voucherDigest\",\"outputs\":[{\"internalType\":\"bytes32\",\"name\":\"\",\"type\":\"bytes32\"}],\"stateMutability\":\"view\",\"type\":\"function\"}]",
	ID:  "Channels",
	Bin: "0x60e060405234801561000f575f5ffd5b5060405161193538038061193583398101604081905261002e916100ef565b6001600160401b0381166080524660c0526100e6604080517f8b73c3c69bb8fe3d512ecc4cf759cc79239f7b179b0ffacaa9a75d522b39400f60208201527f34e42a5f49e5f6e8d43f12d95fd048142d01ac5716c3a1dca22c71a5a84cb18b918101919091527fc89efdaa54c0f20c7adf612882df0950f5a951637e0307cdcb4c672f298b8bc660608201524660808201523060a08201525f9060c00160405160208183030381529060405280519060200120905090565b60a0525061011c565b5f602082840312156100ff575f5ffd5b81516001600160401b0381168114610115575f5ffd5b9392505050565b60805160a05160c0516117e861014d5f395f61137601525f61139e01525f81816102d9015261057d01526117e85ff3fe6080604052600436106100b7575f3560e01c806394739e8711610071578063d7a9fc541161004c578063d7a9fc54146102a9578063f3f480d9146102c8578063f698da2514610314575f5ffd5b806394739e8714610244578063c0d045ff14610277578063d148fd711461028a575f5ffd5b806351ba43e2116100a157806351ba43e21461015b5780635f13e5ca1461017a5780637a7ebd7b14610199575f5ffd5b80625e26db146100bb5780631722ad7d146100d0575b5f5ffd5b6100ce6100c9366004611621565b610328565b005b3480156100db575f5ffd5b506101486100ea366004611652565b6040805173ffffffffffffffffffffffffffffffffffffffff808616602083015284169181019190915267ffffffffffffffff821660608201525f906080016040516020818303038152906040528051906020012090509392505050565b6040519081526020015b60405180910390f35b348015610166575f5ffd5b506100ce610175366004611621565b610518565b348015610185575f5ffd5b506100ce610194366004611692565b610693565b3480156101a4575f5ffd5b5061020f6101b33660046116f4565b5f602081905290815260409020546bffffffffffffffffffffffff808216916c010000000000000000000000008104909116907801000000000000000000000000000000000000000000000000900467ffffffffffffffff1683565b604080516bffffffffffffffffffffffff948516815293909216602084015267ffffffffffffffff1690820152606001610152565b34801561024f575f5ffd5b506101487faff46118d5bccecdeb222f1779b4a85931ea5a1099080ad97b5c27685d05fd1d81565b6100ce610285366004611621565b610c3c565b348015610295575f5ffd5b506100ce6102a4366004611621565b610ef5565b3480156102b4575f5ffd5b506101486102c336600461170b565b61129e565b3480156102d3575f5ffd5b506102fb7f000000000000000000000000000000000000000000000000000000000000000081565b60405167ffffffffffffffff9091168152602001610152565b34801561031f575f5ffd5b50610148611373565b604080513360208083019190915273ffffffffffffffffffffffffffffffffffffffff85168284015267ffffffffffffffff84166060808401919091528351808403909101815260809092019092528051910120345f036103b5576040517f56316e8700000000000000000000000000000000000000000000000000000000815260040160405180910390fd5b5f6103bf8261146c565b90505f34825f01516bffffffffffffffffffffffff166103df919061176b565b90506bffffffffffffffffffffffff811115610427576040517fc56d46d300000000000000000000000000000000000000000000000000000000815260040160405180910390fd5b6bffffffffffffffffffffffff81811683525f848152602081815260409182902085518154838801518589015167ffffffffffffffff1678010000000000000000000000000000000000000000000000000277ffffffffffffffffffffffffffffffffffffffffffffffff9188166c01000000000000000000000000027fffffffffffffffff0000000000000000000000000000000000000000000000009093169390971692909217171693909317909255805134815291820183905284917f2dec156b5ea8eee5b7a582c2e87253d7d59df096556b3ec99aa5d6cec4480524910160405180910390a25050505050565b604080513360208083019190915273ffffffffffffffffffffffffffffffffffffffff85168284015267ffffffffffffffff841660608084019190915283518084039091018152608090920190925280519101205f6105768261146c565b90506105a27f000000000000000000000000000000000000000000000000000000000000000042611784565b67ffffffffffffffff90811660408381019182525f858152602081815290829020855181548388015195519096167801000000000000000000000000000000000000000000000000810277ffffffffffffffffffffffffffffffffffffffffffffffff6bffffffffffffffffffffffff9788166c01000000000000000000000000027fffffffffffffffff00000000000000000000000000000000000000000000000090991697909316969096179690961716939093179092555191825283917f513c2f7e597098def3859f0488669bbabe2ca09bb62070c14343e4cadc26ea20910160405180910390a250505050565b6040805173ffffffffffffffffffffffffffffffffffffffff8816602080830191909152338284015267ffffffffffffffff88811660608085019190915284518085039091018152608084018086528151918401919091205f8181529384905285842060e0860190965294546bffffffffffffffffffffffff8082168084526c01000000000000000000000000830490911660a0870152780100000000000000000000000000000000000000000000000090910490921660c0909401939093529003610793576040517fc0c16641000000000000000000000000000000000000000000000000000000008152600481018390526024015b60405180910390fd5b67ffffffffffffffff8016816040015167ffffffffffffffff16036107e7576040517f0aad820d0000000000000000000000000000000000000000000000000000000081526004810183905260240161078a565b604081015167ffffffffffffffff16158015906108125750806040015167ffffffffffffffff164210155b156108625760408082015190517f534526b00000000000000000000000000000000000000000000000000000000081526004810184905267ffffffffffffffff909116602482015260440161078a565b80516bffffffffffffffffffffffff168611156108c55780516040517fdc7143df000000000000000000000000000000000000000000000000000000008152600481018890526bffffffffffffffffffffffff909116602482015260440161078a565b80602001516bffffffffffffffffffffffff16861161092d5760208101516040517fdb82dd9b000000000000000000000000000000000000000000000000000000008152600481018890526bffffffffffffffffffffffff909116602482015260440161078a565b7f7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0831115610987576040517f5cd5d23300000000000000000000000000000000000000000000000000000000815260040160405180910390fd5b5f600161099584338a61129e565b604080515f8152602081018083529290925260ff891690820152606081018790526080810186905260a0016020604051602081039080840390855afa1580156109e0573d5f5f3e3d5ffd5b50506040517fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe0015191505073ffffffffffffffffffffffffffffffffffffffff81161580610a5a57508873ffffffffffffffffffffffffffffffffffffffff168173ffffffffffffffffffffffffffffffffffffffff1614155b15610a91576040517f5cd5d23300000000000000000000000000000000000000000000000000000000815260040160405180910390fd5b5f82602001516bffffffffffffffffffffffff1688610ab091906117a4565b6bffffffffffffffffffffffff808a1660208087019182525f88815290819052604090819020875181549351838a015167ffffffffffffffff1678010000000000000000000000000000000000000000000000000277ffffffffffffffffffffffffffffffffffffffffffffffff9187166c01000000000000000000000000027fffffffffffffffff000000000000000000000000000000000000000000000000909616929096169190911793909317929092169290921790555190915084907f41628d0ba42442e4aa4fc514eeb97bb7154969e70e6678229c836f3b9732ba9090610ba8908b908590918252602082015260400190565b60405180910390a26040515f90339083908381818185875af1925050503d805f8114610bef576040519150601f19603f3d011682016040523d82523d5f602084013e610bf4565b606091505b5050905080610c2f576040517f90b8ec1800000000000000000000000000000000000000000000000000000000815260040160405180910390fd5b5050505050505050505050565b604080513360208083019190915273ffffffffffffffffffffffffffffffffffffffff85168284015267ffffffffffffffff84166060808401919091528351808403909101815260809092019092528051910120345f03610cc9576040517f56316e8700000000000000000000000000000000000000000000000000000000815260040160405180910390fd5b6bffffffffffffffffffffffff341115610d0f576040517fc56d46d300000000000000000000000000000000000000000000000000000000815260040160405180910390fd5b5f8181526020818152604091829020825160608101845290546bffffffffffffffffffffffff8082168084526c010000000000000000000000008304909116938301939093527801000000000000000000000000000000000000000000000000900467ffffffffffffffff1692810192909252151580610d9c5750604081015167ffffffffffffffff1615155b15610dd6576040517fa940c0600000000000000000000000000000000000000000000000000000000081526004810183905260240161078a565b60408051606081018252346bffffffffffffffffffffffff81811683525f60208085018281528587018381528984528383529287902095518654915193519085167fffffffffffffffff000000000000000000000000000000000000000000000000909216919091176c0100000000000000000000000093909416929092029290921777ffffffffffffffffffffffffffffffffffffffffffffffff16780100000000000000000000000000000000000000000000000067ffffffffffffffff92831602179093558351928716835282015273ffffffffffffffffffffffffffffffffffffffff861691339185917f4b3cc51649e9e5456deaff74c706a3e5f6b74242d27c09e19342108455076e4c910160405180910390a450505050565b604080513360208083019190915273ffffffffffffffffffffffffffffffffffffffff85168284015267ffffffffffffffff84811660608085019190915284518085039091018152608084018086528151918401919091205f8181529384905285842060e0860190965294546bffffffffffffffffffffffff8082168084526c01000000000000000000000000830490911660a0870152780100000000000000000000000000000000000000000000000090910490921660c0909401939093529003610ff0576040517fc0c166410000000000000000000000000000000000000000000000000000000081526004810183905260240161078a565b67ffffffffffffffff8016816040015167ffffffffffffffff1603611044576040517f0aad820d0000000000000000000000000000000000000000000000000000000081526004810183905260240161078a565b806040015167ffffffffffffffff165f0361108e576040517f713ee7260000000000000000000000000000000000000000000000000000000081526004810183905260240161078a565b806040015167ffffffffffffffff164210156110ef5760408082015190517f76ba4c7f0000000000000000000000000000000000000000000000000000000081526004810184905267ffffffffffffffff909116602482015260440161078a565b602081015181515f91611101916117b7565b60408051606081018252602085810180516bffffffffffffffffffffffff90811684528151811683850190815267ffffffffffffffff8587018181525f8c8152808752889020965187549351915190921678010000000000000000000000000000000000000000000000000277ffffffffffffffffffffffffffffffffffffffffffffffff9185166c01000000000000000000000000027fffffffffffffffff00000000000000000000000000000000000000000000000090941692851692909217929092179190911617909355518351908316815293909116908301819052925084917fae5dc4312c3d3381e38e7d66fc4d59f0a2678332c229c3e61ef1ad527aa34af1910160405180910390a28015611297576040515f90339083908381818185875af1925050503d805f8114611255576040519150601f19603f3d011682016040523d82523d5f602084013e61125a565b606091505b5050905080611295576040517f90b8ec1800000000000000000000000000000000000000000000000000000000815260040160405180910390fd5b505b5050505050565b604080517faff46118d5bccecdeb222f1779b4a85931ea5a1099080ad97b5c27685d05fd1d602082015290810184905273ffffffffffffffffffffffffffffffffffffffff83166060820152608081018290525f90819060a001604051602081830303815290604052805190602001209050611318611373565b6040517f19010000000000000000000000000000000000000000000000000000000000006020820152602281019190915260428101829052606201604051602081830303815290604052805190602001209150509392505050565b5f7f000000000000000000000000000000000000000000000000000000000000000046036113c057507f000000000000000000000000000000000000000000000000000000000000000090565b611467604080517f8b73c3c69bb8fe3d512ecc4cf759cc79239f7b179b0ffacaa9a75d522b39400f60208201527f34e42a5f49e5f6e8d43f12d95fd048142d01ac5716c3a1dca22c71a5a84cb18b918101919091527fc89efdaa54c0f20c7adf612882df0950f5a951637e0307cdcb4c672f298b8bc660608201524660808201523060a08201525f9060c00160405160208183030381529060405280519060200120905090565b905090565b60408051606080820183525f808352602080840182905292840181905284815280835283812084519283018552546bffffffffffffffffffffffff8082168085526c010000000000000000000000008304909116948401949094527801000000000000000000000000000000000000000000000000900467ffffffffffffffff1693820193909352910361152f576040517fc0c166410000000000000000000000000000000000000000000000000000000081526004810183905260240161078a565b67ffffffffffffffff8016816040015167ffffffffffffffff1603611583576040517f0aad820d0000000000000000000000000000000000000000000000000000000081526004810183905260240161078a565b604081015167ffffffffffffffff16156115e25760408082015190517f61aac2c00000000000000000000000000000000000000000000000000000000081526004810184905267ffffffffffffffff909116602482015260440161078a565b919050565b803573ffffffffffffffffffffffffffffffffffffffff811681146115e2575f5ffd5b803567ffffffffffffffff811681146115e2575f5ffd5b5f5f60408385031215611632575f5ffd5b61163b836115e7565b91506116496020840161160a565b90509250929050565b5f5f5f60608486031215611664575f5ffd5b61166d846115e7565b925061167b602085016115e7565b91506116896040850161160a565b90509250925092565b5f5f5f5f5f5f60c087890312156116a7575f5ffd5b6116b0876115e7565b95506116be6020880161160a565b945060408701359350606087013560ff811681146116da575f5ffd5b9598949750929560808101359460a0909101359350915050565b5f60208284031215611704575f5ffd5b5035919050565b5f5f5f6060848603121561171d575f5ffd5b8335925061172d602085016115e7565b929592945050506040919091013590565b7f4e487b71000000000000000000000000000000000000000000000000000000005f52601160045260245ffd5b8082018082111561177e5761177e61173e565b92915050565b67ffffffffffffffff818116838216019081111561177e5761177e61173e565b8181038181111561177e5761177e61173e565b6bffffffffffffffffffffffff828116828216039081111561177e5761177e61173e56fea164736f6c634300081e000a",
}

// Channels is an auto generated Go binding around an Ethereum contract.
type Channels struct {
	abi abi.ABI
}

// GetABI returns the ABI associated with this contract binding.
func (c *Channels) GetABI() abi.ABI {
	return c.abi
}

// NewChannels creates a new instance of Channels.
func NewChannels() *Channels {
	parsed, err := ChannelsMetaData.ParseABI()
	if err != nil {
		panic(errors.New("invalid ABI: " + err.Error()))
	}
	return &Channels{abi: *parsed}
}

// Instance creates a wrapper for a deployed contract instance at the given address.
// Use this to create the instance object passed to abigen v2 library functions Call, Transact, etc.
func (c *Channels) Instance(backend bind.ContractBackend, addr common.Address) *bind.BoundContract {
	return bind.NewBoundContract(addr, c.abi, backend, backend, backend)
}

// PackConstructor is the Go binding used to pack the parameters required for
// contract deployment.
//
// Solidity: constructor(uint64 challengePeriod_) returns()
func (channels *Channels) PackConstructor(challengePeriod_ uint64) []byte {
	enc, err := channels.abi.Pack("", challengePeriod_)
	if err != nil {
		panic(err)
	}
	return enc
}

// PackVOUCHERTYPEHASH is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x94739e87.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function VOUCHER_TYPEHASH() view returns(bytes32)
func (channels *Channels) PackVOUCHERTYPEHASH() []byte {
	enc, err := channels.abi.Pack("VOUCHER_TYPEHASH")
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackVOUCHERTYPEHASH is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x94739e87.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function VOUCHER_TYPEHASH() view returns(bytes32)
func (channels *Channels) TryPackVOUCHERTYPEHASH() ([]byte, error) {
	return channels.abi.Pack("VOUCHER_TYPEHASH")
}

// UnpackVOUCHERTYPEHASH is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x94739e87.
//
// Solidity: function VOUCHER_TYPEHASH() view returns(bytes32)
func (channels *Channels) UnpackVOUCHERTYPEHASH(data []byte) ([32]byte, error) {
	out, err := channels.abi.Unpack("VOUCHER_TYPEHASH", data)
	if err != nil {
		return *new([32]byte), err
	}
	out0 := *abi.ConvertType(out[0], new([32]byte)).(*[32]byte)
	return out0, nil
}

// PackChallengePeriod is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xf3f480d9.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function challengePeriod() view returns(uint64)
func (channels *Channels) PackChallengePeriod() []byte {
	enc, err := channels.abi.Pack("challengePeriod")
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackChallengePeriod is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xf3f480d9.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function challengePeriod() view returns(uint64)
func (channels *Channels) TryPackChallengePeriod() ([]byte, error) {
	return channels.abi.Pack("challengePeriod")
}

// UnpackChallengePeriod is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0xf3f480d9.
//
// Solidity: function challengePeriod() view returns(uint64)
func (channels *Channels) UnpackChallengePeriod(data []byte) (uint64, error) {
	out, err := channels.abi.Unpack("challengePeriod", data)
	if err != nil {
		return *new(uint64), err
	}
	out0 := *abi.ConvertType(out[0], new(uint64)).(*uint64)
	return out0, nil
}

// PackChannelId is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x1722ad7d.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function channelId(address sender, address receiver, uint64 nonce) pure returns(bytes32)
func (channels *Channels) PackChannelId(sender common.Address, receiver common.Address, nonce uint64) []byte {
	enc, err := channels.abi.Pack("channelId", sender, receiver, nonce)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackChannelId is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x1722ad7d.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function channelId(address sender, address receiver, uint64 nonce) pure returns(bytes32)
func (channels *Channels) TryPackChannelId(sender common.Address, receiver common.Address, nonce uint64) ([]byte, error) {
	return channels.abi.Pack("channelId", sender, receiver, nonce)
}

// UnpackChannelId is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x1722ad7d.
//
// Solidity: function channelId(address sender, address receiver, uint64 nonce) pure returns(bytes32)
func (channels *Channels) UnpackChannelId(data []byte) ([32]byte, error) {
	out, err := channels.abi.Unpack("channelId", data)
	if err != nil {
		return *new([32]byte), err
	}
	out0 := *abi.ConvertType(out[0], new([32]byte)).(*[32]byte)
	return out0, nil
}

// PackChannels is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x7a7ebd7b.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function channels(bytes32 ) view returns(uint96 deposit, uint96 claimed, uint64 closeAt)
func (channels *Channels) PackChannels(arg0 [32]byte) []byte {
	enc, err := channels.abi.Pack("channels", arg0)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackChannels is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x7a7ebd7b.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function channels(bytes32 ) view returns(uint96 deposit, uint96 claimed, uint64 closeAt)
func (channels *Channels) TryPackChannels(arg0 [32]byte) ([]byte, error) {
	return channels.abi.Pack("channels", arg0)
}

// ChannelsOutput serves as a container for the return parameters of contract
// method Channels.
type ChannelsOutput struct {
	Deposit *big.Int
	Claimed *big.Int
	CloseAt uint64
}

// UnpackChannels is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x7a7ebd7b.
//
// Solidity: function channels(bytes32 ) view returns(uint96 deposit, uint96 claimed, uint64 closeAt)
func (channels *Channels) UnpackChannels(data []byte) (ChannelsOutput, error) {
	out, err := channels.abi.Unpack("channels", data)
	outstruct := new(ChannelsOutput)
	if err != nil {
		return *outstruct, err
	}
	outstruct.Deposit = abi.ConvertType(out[0], new(big.Int)).(*big.Int)
	outstruct.Claimed = abi.ConvertType(out[1], new(big.Int)).(*big.Int)
	outstruct.CloseAt = *abi.ConvertType(out[2], new(uint64)).(*uint64)
	return *outstruct, nil
}

// PackClaim is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x5f13e5ca.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function claim(address sender, uint64 nonce, uint256 amount, uint8 v, bytes32 r, bytes32 s) returns()
func (channels *Channels) PackClaim(sender common.Address, nonce uint64, amount *big.Int, v uint8, r [32]byte, s [32]byte) []byte {
	enc, err := channels.abi.Pack("claim", sender, nonce, amount, v, r, s)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackClaim is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x5f13e5ca.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function claim(address sender, uint64 nonce, uint256 amount, uint8 v, bytes32 r, bytes32 s) returns()
func (channels *Channels) TryPackClaim(sender common.Address, nonce uint64, amount *big.Int, v uint8, r [32]byte, s [32]byte) ([]byte, error) {
	return channels.abi.Pack("claim", sender, nonce, amount, v, r, s)
}

// PackDomainSeparator is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xf698da25.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function domainSeparator() view returns(bytes32)
func (channels *Channels) PackDomainSeparator() []byte {
	enc, err := channels.abi.Pack("domainSeparator")
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackDomainSeparator is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xf698da25.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function domainSeparator() view returns(bytes32)
func (channels *Channels) TryPackDomainSeparator() ([]byte, error) {
	return channels.abi.Pack("domainSeparator")
}

// UnpackDomainSeparator is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0xf698da25.
//
// Solidity: function domainSeparator() view returns(bytes32)
func (channels *Channels) UnpackDomainSeparator(data []byte) ([32]byte, error) {
	out, err := channels.abi.Unpack("domainSeparator", data)
	if err != nil {
		return *new([32]byte), err
	}
	out0 := *abi.ConvertType(out[0], new([32]byte)).(*[32]byte)
	return out0, nil
}

// PackFinishClose is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xd148fd71.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function finishClose(address receiver, uint64 nonce) returns()
func (channels *Channels) PackFinishClose(receiver common.Address, nonce uint64) []byte {
	enc, err := channels.abi.Pack("finishClose", receiver, nonce)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackFinishClose is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xd148fd71.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function finishClose(address receiver, uint64 nonce) returns()
func (channels *Channels) TryPackFinishClose(receiver common.Address, nonce uint64) ([]byte, error) {
	return channels.abi.Pack("finishClose", receiver, nonce)
}

// PackOpen is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xc0d045ff.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function open(address receiver, uint64 nonce) payable returns()
func (channels *Channels) PackOpen(receiver common.Address, nonce uint64) []byte {
	enc, err := channels.abi.Pack("open", receiver, nonce)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackOpen is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xc0d045ff.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function open(address receiver, uint64 nonce) payable returns()
func (channels *Channels) TryPackOpen(receiver common.Address, nonce uint64) ([]byte, error) {
	return channels.abi.Pack("open", receiver, nonce)
}

// PackStartClose is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x51ba43e2.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function startClose(address receiver, uint64 nonce) returns()
func (channels *Channels) PackStartClose(receiver common.Address, nonce uint64) []byte {
	enc, err := channels.abi.Pack("startClose", receiver, nonce)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackStartClose is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x51ba43e2.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function startClose(address receiver, uint64 nonce) returns()
func (channels *Channels) TryPackStartClose(receiver common.Address, nonce uint64) ([]byte, error) {
	return channels.abi.Pack("startClose", receiver, nonce)
}

// PackTopUp is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x005e26db.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function topUp(address receiver, uint64 nonce) payable returns()
func (channels *Channels) PackTopUp(receiver common.Address, nonce uint64) []byte {
	enc, err := channels.abi.Pack("topUp", receiver, nonce)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackTopUp is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x005e26db.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function topUp(address receiver, uint64 nonce) payable returns()
func (channels *Channels) TryPackTopUp(receiver common.Address, nonce uint64) ([]byte, error) {
	return channels.abi.Pack("topUp", receiver, nonce)
}

// PackVoucherDigest is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xd7a9fc54.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function voucherDigest(bytes32 channel, address receiver, uint256 amount) view returns(bytes32)
func (channels *Channels) PackVoucherDigest(channel [32]byte, receiver common.Address, amount *big.Int) []byte {
	enc, err := channels.abi.Pack("voucherDigest", channel, receiver, amount)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackVoucherDigest is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xd7a9fc54.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function voucherDigest(bytes32 channel, address receiver, uint256 amount) view returns(bytes32)
func (channels *Channels) TryPackVoucherDigest(channel [32]byte, receiver common.Address, amount *big.Int) ([]byte, error) {
	return channels.abi.Pack("voucherDigest", channel, receiver, amount)
}

// UnpackVoucherDigest is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0xd7a9fc54.
//
// Solidity: function voucherDigest(bytes32 channel, address receiver, uint256 amount) view returns(bytes32)
func (channels *Channels) UnpackVoucherDigest(data []byte) ([32]byte, error) {
	out, err := channels.abi.Unpack("voucherDigest", data)
	if err != nil {
		return *new([32]byte), err
	}
	out0 := *abi.ConvertType(out[0], new([32]byte)).(*[32]byte)
	return out0, nil
}

// ChannelsClaimed represents a Claimed event raised by the Channels contract.
type ChannelsClaimed struct {
	Channel [32]byte
	Amount  *big.Int
	Paid    *big.Int
	Raw     *types.Log // Blockchain specific contextual infos
}

const ChannelsClaimedEventName = "Claimed"

// ContractEventName returns the user-defined event name.
func (ChannelsClaimed) ContractEventName() string {
	return ChannelsClaimedEventName
}

// UnpackClaimedEvent is the Go binding that unpacks the event data emitted
// by contract.
//
// Solidity: event Claimed(bytes32 indexed channel, uint256 amount, uint256 paid)
func (channels *Channels) UnpackClaimedEvent(log *types.Log) (*ChannelsClaimed, error) {
	event := "Claimed"
	if len(log.Topics) == 0 {
		return nil, bind.ErrNoEventSignature
	}
	if log.Topics[0] != channels.abi.Events[event].ID {
		return nil, bind.ErrEventSignatureMismatch
	}
	out := new(ChannelsClaimed)
	if len(log.Data) > 0 {
		if err := channels.abi.UnpackIntoInterface(out, event, log.Data); err != nil {
			return nil, err
		}
	}
	var indexed abi.Arguments
	for _, arg := range channels.abi.Events[event].Inputs {
		if arg.Indexed {
			indexed = append(indexed, arg)
		}
	}
	if err := abi.ParseTopics(out, indexed, log.Topics[1:]); err != nil {
		return nil, err
	}
	out.Raw = log
	return out, nil
}

// ChannelsCloseStarted represents a CloseStarted event raised by the Channels contract.
type ChannelsCloseStarted struct {
	Channel [32]byte
	CloseAt uint64
	Raw     *types.Log // Blockchain specific contextual infos
}

const ChannelsCloseStartedEventName = "CloseStarted"

// ContractEventName returns the user-defined event name.
func (ChannelsCloseStarted) ContractEventName() string {
	return ChannelsCloseStartedEventName
}

// UnpackCloseStartedEvent is the Go binding that unpacks the event data emitted
// by contract.
//
// Solidity: event CloseStarted(bytes32 indexed channel, uint64 closeAt)
func (channels *Channels) UnpackCloseStartedEvent(log *types.Log) (*ChannelsCloseStarted, error) {
	event := "CloseStarted"
	if len(log.Topics) == 0 {
		return nil, bind.ErrNoEventSignature
	}
	if log.Topics[0] != channels.abi.Events[event].ID {
		return nil, bind.ErrEventSignatureMismatch
	}
	out := new(ChannelsCloseStarted)
	if len(log.Data) > 0 {
		if err := channels.abi.UnpackIntoInterface(out, event, log.Data); err != nil {
			return nil, err
		}
	}
	var indexed abi.Arguments
	for _, arg := range channels.abi.Events[event].Inputs {
		if arg.Indexed {
			indexed = append(indexed, arg)
		}
	}
	if err := abi.ParseTopics(out, indexed, log.Topics[1:]); err != nil {
		return nil, err
	}
	out.Raw = log
	return out, nil
}

// ChannelsClosed represents a Closed event raised by the Channels contract.
type ChannelsClosed struct {
	Channel [32]byte
	Claimed *big.Int
	Refund  *big.Int
	Raw     *types.Log // Blockchain specific contextual infos
}

const ChannelsClosedEventName = "Closed"

// ContractEventName returns the user-defined event name.
func (ChannelsClosed) ContractEventName() string {
	return ChannelsClosedEventName
}

// UnpackClosedEvent is the Go binding that unpacks the event data emitted
// by contract.
//
// Solidity: event Closed(bytes32 indexed channel, uint256 claimed, uint256 refund)
func (channels *Channels) UnpackClosedEvent(log *types.Log) (*ChannelsClosed, error) {
	event := "Closed"
	if len(log.Topics) == 0 {
		return nil, bind.ErrNoEventSignature
	}
	if log.Topics[0] != channels.abi.Events[event].ID {
		return nil, bind.ErrEventSignatureMismatch
	}
	out := new(ChannelsClosed)
	if len(log.Data) > 0 {
		if err := channels.abi.UnpackIntoInterface(out, event, log.Data); err != nil {
			return nil, err
		}
	}
	var indexed abi.Arguments
	for _, arg := range channels.abi.Events[event].Inputs {
		if arg.Indexed {
			indexed = append(indexed, arg)
		}
	}
	if err := abi.ParseTopics(out, indexed, log.Topics[1:]); err != nil {
		return nil, err
	}
	out.Raw = log
	return out, nil
}

// ChannelsOpened represents a Opened event raised by the Channels contract.
type ChannelsOpened struct {
	Channel  [32]byte
	Sender   common.Address
	Receiver common.Address
	Nonce    uint64
	Deposit  *big.Int
	Raw      *types.Log // Blockchain specific contextual infos
}

const ChannelsOpenedEventName = "Opened"

// ContractEventName returns the user-defined event name.
func (ChannelsOpened) ContractEventName() string {
	return ChannelsOpenedEventName
}

// UnpackOpenedEvent is the Go binding that unpacks the event data emitted
// by contract.
//
// Solidity: event Opened(bytes32 indexed channel, address indexed sender, address indexed receiver, uint64 nonce, uint256 deposit)
func (channels *Channels) UnpackOpenedEvent(log *types.Log) (*ChannelsOpened, error) {
	event := "Opened"
	if len(log.Topics) == 0 {
		return nil, bind.ErrNoEventSignature
	}
	if log.Topics[0] != channels.abi.Events[event].ID {
		return nil, bind.ErrEventSignatureMismatch
	}
	out := new(ChannelsOpened)
	if len(log.Data) > 0 {
		if err := channels.abi.UnpackIntoInterface(out, event, log.Data); err != nil {
			return nil, err
		}
	}
	var indexed abi.Arguments
	for _, arg := range channels.abi.Events[event].Inputs {
		if arg.Indexed {
			indexed = append(indexed, arg)
		}
	}
	if err := abi.ParseTopics(out, indexed, log.Topics[1:]); err != nil {
		return nil, err
	}
	out.Raw = log
	return out, nil
}

// ChannelsToppedUp represents a ToppedUp event raised by the Channels contract.
type ChannelsToppedUp struct {
	Channel [32]byte
	Added   *big.Int
	Deposit *big.Int
	Raw     *types.Log // Blockchain specific contextual infos
}

const ChannelsToppedUpEventName = "ToppedUp"

// ContractEventName returns the user-defined event name.
func (ChannelsToppedUp) ContractEventName() string {
	return ChannelsToppedUpEventName
}

// UnpackToppedUpEvent is the Go binding that unpacks the event data emitted
// by contract.
//
// Solidity: event ToppedUp(bytes32 indexed channel, uint256 added, uint256 deposit)
func (channels *Channels) UnpackToppedUpEvent(log *types.Log) (*ChannelsToppedUp, error) {
	event := "ToppedUp"
	if len(log.Topics) == 0 {
		return nil, bind.ErrNoEventSignature
	}
	if log.Topics[0] != channels.abi.Events[event].ID {
		return nil, bind.ErrEventSignatureMismatch
	}
	out := new(ChannelsToppedUp)
	if len(log.Data) > 0 {
		if err := channels.abi.UnpackIntoInterface(out, event, log.Data); err != nil {
			return nil, err
		}
	}
	var indexed abi.Arguments
	for _, arg := range channels.abi.Events[event].Inputs {
		if arg.Indexed {
			indexed = append(indexed, arg)
		}
	}
	if err := abi.ParseTopics(out, indexed, log.Topics[1:]); err != nil {
		return nil, err
	}
	out.Raw = log
	return out, nil
}

// UnpackError attempts to decode the provided error data using user-defined
// error definitions.
func (channels *Channels) UnpackError(raw []byte) (any, error) {
	if bytes.Equal(raw[:4], channels.abi.Errors["AmountAboveDeposit"].ID.Bytes()[:4]) {
		return channels.UnpackAmountAboveDepositError(raw[4:])
	}
	if bytes.Equal(raw[:4], channels.abi.Errors["AmountNotAboveClaimed"].ID.Bytes()[:4]) {
		return channels.UnpackAmountNotAboveClaimedError(raw[4:])
	}
	if bytes.Equal(raw[:4], channels.abi.Errors["BadSignature"].ID.Bytes()[:4]) {
		return channels.UnpackBadSignatureError(raw[4:])
	}
	if bytes.Equal(raw[:4], channels.abi.Errors["ChallengeNotOver"].ID.Bytes()[:4]) {
		return channels.UnpackChallengeNotOverError(raw[4:])
	}
	if bytes.Equal(raw[:4], channels.abi.Errors["ChallengeOver"].ID.Bytes()[:4]) {
		return channels.UnpackChallengeOverError(raw[4:])
	}
	if bytes.Equal(raw[:4], channels.abi.Errors["ChannelClosing"].ID.Bytes()[:4]) {
		return channels.UnpackChannelClosingError(raw[4:])
	}
	if bytes.Equal(raw[:4], channels.abi.Errors["ChannelExists"].ID.Bytes()[:4]) {
		return channels.UnpackChannelExistsError(raw[4:])
	}
	if bytes.Equal(raw[:4], channels.abi.Errors["ChannelFinished"].ID.Bytes()[:4]) {
		return channels.UnpackChannelFinishedError(raw[4:])
	}
	if bytes.Equal(raw[:4], channels.abi.Errors["DepositTooLarge"].ID.Bytes()[:4]) {
		return channels.UnpackDepositTooLargeError(raw[4:])
	}
	if bytes.Equal(raw[:4], channels.abi.Errors["NoChannel"].ID.Bytes()[:4]) {
		return channels.UnpackNoChannelError(raw[4:])
	}
	if bytes.Equal(raw[:4], channels.abi.Errors["NotClosing"].ID.Bytes()[:4]) {
		return channels.UnpackNotClosingError(raw[4:])
	}
	if bytes.Equal(raw[:4], channels.abi.Errors["TransferFailed"].ID.Bytes()[:4]) {
		return channels.UnpackTransferFailedError(raw[4:])
	}
	if bytes.Equal(raw[:4], channels.abi.Errors["ZeroDeposit"].ID.Bytes()[:4]) {
		return channels.UnpackZeroDepositError(raw[4:])
	}
	return nil, errors.New("Unknown error")
}

// ChannelsAmountAboveDeposit represents a AmountAboveDeposit error raised by the Channels contract.
type ChannelsAmountAboveDeposit struct {
	Amount  *big.Int
	Deposit *big.Int
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error AmountAboveDeposit(uint256 amount, uint256 deposit)
func ChannelsAmountAboveDepositErrorID() common.Hash {
	return common.HexToHash("0xdc7143dff10bb2fd8d1bd4e64cc48bc4090ade2f427fd6ec5093af4369a2cb8e")
}

// UnpackAmountAboveDepositError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error AmountAboveDeposit(uint256 amount, uint256 deposit)
func (channels *Channels) UnpackAmountAboveDepositError(raw []byte) (*ChannelsAmountAboveDeposit, error) {
	out := new(ChannelsAmountAboveDeposit)
	if err := channels.abi.UnpackIntoInterface(out, "AmountAboveDeposit", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// ChannelsAmountNotAboveClaimed represents a AmountNotAboveClaimed error raised by the Channels contract.
type ChannelsAmountNotAboveClaimed struct {
	Amount  *big.Int
	Claimed *big.Int
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error AmountNotAboveClaimed(uint256 amount, uint256 claimed)
func ChannelsAmountNotAboveClaimedErrorID() common.Hash {
	return common.HexToHash("0xdb82dd9b4c3f2de789023d0b442b2820a28cc2a61c88eeeebb9dd6c734b800dc")
}

// UnpackAmountNotAboveClaimedError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error AmountNotAboveClaimed(uint256 amount, uint256 claimed)
func (channels *Channels) UnpackAmountNotAboveClaimedError(raw []byte) (*ChannelsAmountNotAboveClaimed, error) {
	out := new(ChannelsAmountNotAboveClaimed)
	if err := channels.abi.UnpackIntoInterface(out, "AmountNotAboveClaimed", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// ChannelsBadSignature represents a BadSignature error raised by the Channels contract.
type ChannelsBadSignature struct {
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error BadSignature()
func ChannelsBadSignatureErrorID() common.Hash {
	return common.HexToHash("0x5cd5d2335541c4f2ed05fbe44f397e8b79f8e2333157122d2dab06e378ef7685")
}

// UnpackBadSignatureError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error BadSignature()
func (channels *Channels) UnpackBadSignatureError(raw []byte) (*ChannelsBadSignature, error) {
	out := new(ChannelsBadSignature)
	if err := channels.abi.UnpackIntoInterface(out, "BadSignature", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// ChannelsChallengeNotOver represents a ChallengeNotOver error raised by the Channels contract.
type ChannelsChallengeNotOver struct {
	Channel [32]byte
	CloseAt uint64
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error ChallengeNotOver(bytes32 channel, uint64 closeAt)
func ChannelsChallengeNotOverErrorID() common.Hash {
	return common.HexToHash("0x76ba4c7fc95eb82a9599baefe9f193b86b3fe277ede1fc624875d01bc1c92805")
}

// UnpackChallengeNotOverError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error ChallengeNotOver(bytes32 channel, uint64 closeAt)
func (channels *Channels) UnpackChallengeNotOverError(raw []byte) (*ChannelsChallengeNotOver, error) {
	out := new(ChannelsChallengeNotOver)
	if err := channels.abi.UnpackIntoInterface(out, "ChallengeNotOver", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// ChannelsChallengeOver represents a ChallengeOver error raised by the Channels contract.
type ChannelsChallengeOver struct {
	Channel [32]byte
	CloseAt uint64
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error ChallengeOver(bytes32 channel, uint64 closeAt)
func ChannelsChallengeOverErrorID() common.Hash {
	return common.HexToHash("0x534526b0a4e178e2a5e0b5053b835905c261674e5754195b8aaf903dc2c3b511")
}

// UnpackChallengeOverError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error ChallengeOver(bytes32 channel, uint64 closeAt)
func (channels *Channels) UnpackChallengeOverError(raw []byte) (*ChannelsChallengeOver, error) {
	out := new(ChannelsChallengeOver)
	if err := channels.abi.UnpackIntoInterface(out, "ChallengeOver", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// ChannelsChannelClosing represents a ChannelClosing error raised by the Channels contract.
type ChannelsChannelClosing struct {
	Channel [32]byte
	CloseAt uint64
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error ChannelClosing(bytes32 channel, uint64 closeAt)
func ChannelsChannelClosingErrorID() common.Hash {
	return common.HexToHash("0x61aac2c01c0510599a78111d6a5d32abc5495a909864d2e698b2491367d7870d")
}

// UnpackChannelClosingError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error ChannelClosing(bytes32 channel, uint64 closeAt)
func (channels *Channels) UnpackChannelClosingError(raw []byte) (*ChannelsChannelClosing, error) {
	out := new(ChannelsChannelClosing)
	if err := channels.abi.UnpackIntoInterface(out, "ChannelClosing", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// ChannelsChannelExists represents a ChannelExists error raised by the Channels contract.
type ChannelsChannelExists struct {
	Channel [32]byte
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error ChannelExists(bytes32 channel)
func ChannelsChannelExistsErrorID() common.Hash {
	return common.HexToHash("0xa940c060494e4a8725ceaaeed5009635eed00c41d329b627de1735c400b10517")
}

// UnpackChannelExistsError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error ChannelExists(bytes32 channel)
func (channels *Channels) UnpackChannelExistsError(raw []byte) (*ChannelsChannelExists, error) {
	out := new(ChannelsChannelExists)
	if err := channels.abi.UnpackIntoInterface(out, "ChannelExists", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// ChannelsChannelFinished represents a ChannelFinished error raised by the Channels contract.
type ChannelsChannelFinished struct {
	Channel [32]byte
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error ChannelFinished(bytes32 channel)
func ChannelsChannelFinishedErrorID() common.Hash {
	return common.HexToHash("0x0aad820de95289136c535e621cbdfcfa7f4395ff41dfcdc95485e23081ee8a64")
}

// UnpackChannelFinishedError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error ChannelFinished(bytes32 channel)
func (channels *Channels) UnpackChannelFinishedError(raw []byte) (*ChannelsChannelFinished, error) {
	out := new(ChannelsChannelFinished)
	if err := channels.abi.UnpackIntoInterface(out, "ChannelFinished", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// ChannelsDepositTooLarge represents a DepositTooLarge error raised by the Channels contract.
type ChannelsDepositTooLarge struct {
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error DepositTooLarge()
func ChannelsDepositTooLargeErrorID() common.Hash {
	return common.HexToHash("0xc56d46d36a2d84aef20d9c3d6af42b6c3db1785c8769fa476d5b9d4984177595")
}

// UnpackDepositTooLargeError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error DepositTooLarge()
func (channels *Channels) UnpackDepositTooLargeError(raw []byte) (*ChannelsDepositTooLarge, error) {
	out := new(ChannelsDepositTooLarge)
	if err := channels.abi.UnpackIntoInterface(out, "DepositTooLarge", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// ChannelsNoChannel represents a NoChannel error raised by the Channels contract.
type ChannelsNoChannel struct {
	Channel [32]byte
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error NoChannel(bytes32 channel)
func ChannelsNoChannelErrorID() common.Hash {
	return common.HexToHash("0xc0c16641253663d666a164dd8d272b41722df86ea24414eb4d144d851550920f")
}

// UnpackNoChannelError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error NoChannel(bytes32 channel)
func (channels *Channels) UnpackNoChannelError(raw []byte) (*ChannelsNoChannel, error) {
	out := new(ChannelsNoChannel)
	if err := channels.abi.UnpackIntoInterface(out, "NoChannel", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// ChannelsNotClosing represents a NotClosing error raised by the Channels contract.
type ChannelsNotClosing struct {
	Channel [32]byte
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error NotClosing(bytes32 channel)
func ChannelsNotClosingErrorID() common.Hash {
	return common.HexToHash("0x713ee72659c214c0e68146c86120abfdf245ed6a70a3b6f44def2d14efc92bb1")
}

// UnpackNotClosingError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error NotClosing(bytes32 channel)
func (channels *Channels) UnpackNotClosingError(raw []byte) (*ChannelsNotClosing, error) {
	out := new(ChannelsNotClosing)
	if err := channels.abi.UnpackIntoInterface(out, "NotClosing", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// ChannelsTransferFailed represents a TransferFailed error raised by the Channels contract.
type ChannelsTransferFailed struct {
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error TransferFailed()
func ChannelsTransferFailedErrorID() common.Hash {
	return common.HexToHash("0x90b8ec1877afffd816d05d9b13947f3ff18ec5851c38bad15ec2b710f92391b1")
}

// UnpackTransferFailedError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error TransferFailed()
func (channels *Channels) UnpackTransferFailedError(raw []byte) (*ChannelsTransferFailed, error) {
	out := new(ChannelsTransferFailed)
	if err := channels.abi.UnpackIntoInterface(out, "TransferFailed", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// ChannelsZeroDeposit represents a ZeroDeposit error raised by the Channels contract.
type ChannelsZeroDeposit struct {
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error ZeroDeposit()
func ChannelsZeroDepositErrorID() common.Hash {
	return common.HexToHash("0x56316e877e9063fd05b03c347d61a4639470c3199f0bdddd28efee0a5f8b6b02")
}

// UnpackZeroDepositError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error ZeroDeposit()
func (channels *Channels) UnpackZeroDepositError(raw []byte) (*ChannelsZeroDeposit, error) {
	out := new(ChannelsZeroDeposit)
	if err := channels.abi.UnpackIntoInterface(out, "ZeroDeposit", raw); err != nil {
		return nil, err
	}
	return out, nil
}
